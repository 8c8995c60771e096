-- jobdeck_private.job_limit_keys(type, org_id, owner_id, payload, label): a new job's keys under its type's per-key limits.
-- requires: concurrency/limit_key.sql
--
-- Called by every enqueue (insert_job, enqueue_many, add_keyed_job's replace) before anything is
-- written, so a key spec that fails on the job refuses the enqueue (limit_key's errors). A type
-- without per-key limits (the common case) costs two index lookups and returns nulls.

create or replace function jobdeck_private.job_limit_keys(
  type text, org_id text, owner_id text, payload jsonb, label text,
  out concurrency_key text, out rate_key text
)
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_cspec text;
  v_rspec text;
begin
  select t.concurrency_key_spec into v_cspec from jobdeck_private.task_types t where t.type = job_limit_keys.type;
  select r.key_spec into v_rspec from jobdeck_private.rate_limits r
   where r.scope = 'type' and r.name = job_limit_keys.type;
  concurrency_key := jobdeck_private.limit_key(v_cspec, type, org_id, owner_id, payload, 'concurrency limit', label);
  rate_key := jobdeck_private.limit_key(v_rspec, type, org_id, owner_id, payload, 'rate limit', label);
end;
$$;
revoke all on function jobdeck_private.job_limit_keys(type text, org_id text, owner_id text, payload jsonb, label text) from public;
