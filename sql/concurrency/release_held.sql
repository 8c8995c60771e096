-- jobdeck_private.release_held(org_ids, limit_keys): gives held jobs a Graphile job while their caps leave room.
-- requires: concurrency/lock_orgs.sql concurrency/lock_limits.sql concurrency/admit_jobs.sql
-- requires: concurrency/graphile_queue.sql concurrency/admit_keyed.sql pauses/pause_reason.sql
--
-- The held jobs of these organisations, and of the task types, queues and per-key limits named by
-- `limit_keys` (limit_keys' `type:x`, `queue:q`, `key:x:k`), go back in the queue as far as admit_jobs finds room for
-- them (and admit_keyed after it); start_jobs decides again when they start, so a job released too early is only held again.
-- Takes the caps' locks, then the held rows (SKIP LOCKED: a row another release holds is its
-- business, so no job gets two Graphile jobs). Paused jobs are not looked at (admit_jobs would refuse
-- them anyway): a large paused backlog costs the periodic release_all_held nothing. A job that was
-- given a turn between tenants (fair_at, fairness/fair_turns.sql) goes back at that turn, the place
-- it had already reached; the others at their run time. Returns how many jobs were released.
--
-- The one-argument form (org_ids only) went in 000013: callers pass the limit keys too.

drop function if exists jobdeck_private.release_held(text[]);

create or replace function jobdeck_private.release_held(org_ids text[], limit_keys text[])
returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_ids uuid[];
  v_n   integer;
begin
  if coalesce(cardinality(org_ids), 0) = 0 and coalesce(cardinality(limit_keys), 0) = 0 then
    return 0;
  end if;
  perform jobdeck_private.lock_orgs(org_ids);
  perform jobdeck_private.lock_limits(limit_keys);
  select array_agg(h.id) into v_ids
    from (select j.id from jobdeck.jobs j
           where j.held_at is not null and j.status in ('queued', 'retrying')
             and (j.org_id = any(org_ids) or ('type:' || j.type) = any(limit_keys)
                  or ('queue:' || j.queue) = any(limit_keys)
                  or ('key:' || j.type || ':' || coalesce(j.concurrency_key, '')) = any(limit_keys))
             and jobdeck_private.pause_reason(j.type, j.queue) is null
           order by j.id
             for update skip locked) h;
  if v_ids is null then
    return 0;
  end if;
  with gw as (
    select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
      from graphile_worker.add_jobs(array(
        select row(j.type, json_build_object('jobdeckId', j.id), jobdeck_private.graphile_queue(j.queue),
                   case when j.run_at > now() then j.run_at else coalesce(j.fair_at, now()) end, 25, null,
                   j.priority, null)::graphile_worker.job_spec
          from jobdeck_private.admit_keyed(
                 array(select a.id from jobdeck_private.admit_jobs(v_ids, true) a where a.admitted), true) a
          join jobdeck.jobs j on j.id = a.id
         where a.admitted)) g
  )
  update jobdeck.jobs j set held_at = null, held_reason = null, gw_job_id = gw.gw_job_id, updated_at = now()
    from gw where j.id = gw.id;
  get diagnostics v_n = row_count;
  return v_n;
end;
$$;
revoke all on function jobdeck_private.release_held(org_ids text[], limit_keys text[]) from public;
