-- jobdeck_private.job_limit_keys(type, org_id, owner_id, payload, label, queue): a new job's keys under its type's and queue's per-key limits.
-- requires: concurrency/limit_key.sql
--
-- Called by every enqueue (insert_job, enqueue_many, add_keyed_job's replace) before anything is
-- written, so a key spec that fails on the job refuses the enqueue (limit_key's errors). A type
-- without per-key limits (the common case) costs two index lookups (three with a queue) and
-- returns nulls.

drop function if exists jobdeck_private.job_limit_keys(text, text, text, jsonb, text);
create or replace function jobdeck_private.job_limit_keys(
  type text, org_id text, owner_id text, payload jsonb, label text, queue text,
  out concurrency_key text, out rate_key text, out queue_rate_key text
)
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_cspec text;
  v_rspec text;
  v_qspec text;
  v_type  text := format('task type "%s"', type);
begin
  select t.concurrency_key_spec into v_cspec from jobdeck_private.task_types t where t.type = job_limit_keys.type;
  select r.key_spec into v_rspec from jobdeck_private.rate_limits r
   where r.scope = 'type' and r.name = job_limit_keys.type;
  concurrency_key := jobdeck_private.limit_key(v_cspec, v_type, org_id, owner_id, payload, 'concurrency limit', label);
  rate_key := jobdeck_private.limit_key(v_rspec, v_type, org_id, owner_id, payload, 'rate limit', label);
  if queue is not null then
    select r.key_spec into v_qspec from jobdeck_private.rate_limits r
     where r.scope = 'queue' and r.name = job_limit_keys.queue;
    queue_rate_key := jobdeck_private.limit_key(v_qspec, format('queue "%s"', queue), org_id, owner_id, payload,
                                                'rate limit', label);
  end if;
end;
$$;
revoke all on function jobdeck_private.job_limit_keys(type text, org_id text, owner_id text, payload jsonb, label text, queue text) from public;
