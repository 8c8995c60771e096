-- jobdeck_private.enqueue(type, payload, …, key_mode): checks and adds one job.
-- requires: enqueue/add_keyed_job.sql enqueue/check_job_spec.sql enqueue/insert_job.sql
-- requires: dependencies/check_dependencies.sql dependencies/settle_waiting.sql
--
-- The enqueue every other one ends in (jobdeck.enqueue, jobdeck.enqueue_job, the webhook
-- trigger). Written as jobdeck.enqueue in migration 000003 and moved here in 000004, where
-- jobdeck.enqueue became the wrapper that refuses API callers (api/enqueue.sql).
--
-- With `depends_on` (ids of existing jobs the caller may see) the job is inserted `waiting` and
-- settled at once: queued when every dependency has already succeeded, cancelled or queued by
-- `on_dependency_failure` (cancel, the default, or run) when one has already failed
-- (sql/dependencies/). A key cannot be combined with it: the key's uniqueness covers unfinished
-- jobs that hold a Graphile job, and a waiting job holds none.
--
-- plan_cache_mode: its statements are planned once per connection (migration 000007,
-- docs/performance.md); no plan depends on a parameter's value.

-- depends_on and on_dependency_failure were added by issue 21 (dependencies): the old signature goes.
drop function if exists jobdeck_private.enqueue(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, key_mode text);

create or replace function jobdeck_private.enqueue(
  type text,
  payload jsonb default '{}',
  priority integer default 0,
  run_at timestamptz default null,
  max_attempts integer default null,
  key text default null,
  queue text default null,
  owner_id text default null,
  org_id text default null,
  related_type text default null,
  related_id text default null,
  metadata jsonb default '{}',
  key_mode text default 'keep',
  depends_on uuid[] default null,
  on_dependency_failure text default null
) returns jobdeck.jobs
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_max  integer;
  v_deps uuid[];
  v_job  jobdeck.jobs;
begin
  v_max := jobdeck_private.check_job_spec(null, type, payload, priority, run_at, max_attempts, key, queue, metadata);
  if coalesce(cardinality(depends_on), 0) > 0 then
    if key is not null then
      raise exception 'key cannot be combined with depends_on: a waiting job does not hold a key' using errcode = 'JD004';
    end if;
    v_deps := jobdeck_private.check_dependencies(depends_on, on_dependency_failure);
    v_job := jobdeck_private.insert_job(type, payload, priority, run_at, v_max, null, queue, owner_id, org_id,
                                        related_type, related_id, metadata, v_deps,
                                        coalesce(on_dependency_failure, 'cancel'));
    perform jobdeck_private.settle_waiting(array[v_job.id]);
    select * into v_job from jobdeck.jobs j where j.id = v_job.id;
    return v_job;
  elsif on_dependency_failure is not null then
    raise exception 'on_dependency_failure needs depends_on (the jobs to wait for)' using errcode = 'JD004';
  end if;
  if key is null then
    return jobdeck_private.insert_job(type, payload, priority, run_at, v_max, null, queue, owner_id, org_id,
                                      related_type, related_id, metadata);
  end if;
  if key_mode is null or key_mode not in ('keep', 'replace') then
    raise exception 'key_mode must be keep or replace, got %', coalesce(key_mode, 'null') using errcode = 'JD004';
  end if;
  return jobdeck_private.add_keyed_job(type, payload, priority, run_at, v_max, key, key_mode, queue, owner_id,
                                       org_id, related_type, related_id, metadata);
end;
$$;
comment on function jobdeck_private.enqueue is
  'Enqueue a tracked job in the current transaction. key_mode keep|replace. Errors: JD001 unknown type, JD002 invalid payload, JD003 payload too large, JD004 bad option (an unknown or invisible dependency too).';
revoke all on function jobdeck_private.enqueue(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, key_mode text, depends_on uuid[], on_dependency_failure text) from public;
