-- jobdeck_private.add_keyed_job(…): adds a job with a key, keeping or replacing the key's holder.
-- requires: enqueue/insert_job.sql concurrency/graphile_queue.sql concurrency/job_limit_keys.sql
--
-- keep: an unfinished job with the key is returned as it is. replace: a waiting job with the key
-- takes the new payload and options; a running one keeps running, loses the key, and the new job
-- is added behind it. A concurrent enqueue of the same key makes it look again (three tries).
-- A replaced waiting job keeps its turn between tenants (fair_at) unless it now has a delay.

create or replace function jobdeck_private.add_keyed_job(
  type text, payload jsonb, priority integer, run_at timestamptz, max_attempts integer, key text, key_mode text,
  queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb
) returns jobdeck.jobs
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_job  jobdeck.jobs;
  v_try  integer := 0;
begin
  loop
    v_try := v_try + 1;
    select * into v_job from jobdeck.jobs j
     where j.key = add_keyed_job.key and j.status in ('queued', 'running', 'retrying')
       and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
       for update;
    if found then
      if key_mode = 'keep' then
        return v_job;
      end if;
      if v_job.type <> add_keyed_job.type then
        raise exception 'key "%" is held by job % of type "%", not "%"', key, v_job.id, v_job.type, type
          using errcode = 'JD004';
      end if;
      if v_job.status = 'running' then
        update jobdeck.jobs j set key = null, updated_at = now() where j.id = v_job.id;
        insert into jobdeck.job_events (job_id, kind, level, message, attempt)
        values (v_job.id, 'control', 'info', 'key "' || key || '" passed to a newer job (replace)', v_job.attempts);
      else
        update jobdeck.jobs j
           set payload = add_keyed_job.payload, priority = add_keyed_job.priority,
               run_at = coalesce(add_keyed_job.run_at, now()), max_attempts = add_keyed_job.max_attempts,
               owner_id = add_keyed_job.owner_id, org_id = add_keyed_job.org_id,
               related_type = add_keyed_job.related_type, related_id = add_keyed_job.related_id,
               metadata = add_keyed_job.metadata, updated_at = now(),
               (concurrency_key, rate_key, queue_rate_key) = (
                 select lk.concurrency_key, lk.rate_key, lk.queue_rate_key
                   from jobdeck_private.job_limit_keys(add_keyed_job.type, add_keyed_job.org_id,
                          add_keyed_job.owner_id, add_keyed_job.payload, null, j.queue) lk),
               fair_at = case when add_keyed_job.run_at > now() then null else j.fair_at end
         where j.id = v_job.id returning j.* into v_job;
        if v_job.gw_job_id is not null then
          perform graphile_worker.reschedule_jobs(array[v_job.gw_job_id], run_at => coalesce(v_job.fair_at, v_job.run_at),
                                                  priority => v_job.priority);
        elsif v_job.held_at is not null then
          -- Held by a cap: with its new organisation and options it goes through admission again.
          update jobdeck.jobs j
             set held_at = null,
                 gw_job_id = (graphile_worker.add_job(identifier => v_job.type,
                                payload => json_build_object('jobdeckId', v_job.id),
                                queue_name => jobdeck_private.graphile_queue(v_job.queue),
                                run_at => coalesce(v_job.fair_at, v_job.run_at), max_attempts => 25,
                                priority => v_job.priority)).id
           where j.id = v_job.id returning j.* into v_job;
        end if;
        insert into jobdeck.job_events (job_id, kind, level, message, attempt)
        values (v_job.id, 'control', 'info', 'replaced by a newer enqueue with key "' || key || '"', v_job.attempts);
        return v_job;
      end if;
    end if;
    begin
      return jobdeck_private.insert_job(type, payload, priority, run_at, max_attempts, key, queue, owner_id,
                                        org_id, related_type, related_id, metadata);
    exception when unique_violation then
      if v_try >= 3 then
        raise;
      end if;
      -- a concurrent enqueue took the key: go round again and apply keep/replace to its job
    end;
  end loop;
end;
$$;
revoke all on function jobdeck_private.add_keyed_job(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, key_mode text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb) from public;
