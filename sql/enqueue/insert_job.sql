-- jobdeck_private.insert_job(…): inserts a checked job and hands it to Graphile Worker.
-- requires: concurrency/graphile_queue.sql concurrency/job_limit_keys.sql fairness/fair_turns.sql
-- requires: start/graphile_payload.sql start/start_data_allowed.sql start/flow_rules_version.sql
--
-- Graphile Worker gets the payload `{jobdeckId}`; the payload itself lives only in jobdeck.jobs.
-- Its Graphile job gets max_attempts 25 whatever the job's own budget: jobdeck counts attempts
-- itself, and Worker's count only matters when jobdeck could not record an outcome (the wrapper
-- then throws and Worker runs the job again), which must not strand a job with attempts left.
-- The job's keys under per-key limits are computed first: a key spec that fails refuses the job.
-- A job that takes turns between tenants gives its Graphile job its turn as run_at
-- (fairness/fair_turns.sql) and records it in fair_at; its own run_at stays the real one.
-- A job without a turn or a time gets clock_timestamp(), not Graphile's default now(): Graphile
-- claims in (priority, run_at) order with no further tie-break, so jobs enqueued in one
-- transaction would otherwise share a run_at and start in the order of their rows on disk.
-- A job without a key that no flow rule covers (start/start_data_allowed.sql) and whose payload and
-- metadata fit in 8 kB carries its start data in its Graphile job (start/graphile_payload.sql):
-- the worker then starts its first attempt without reading the row (docs/performance.md).
-- A job with `depends_on` (checked by dependencies/check_dependencies.sql) is inserted `waiting`,
-- without a Graphile job or a turn: dependencies/settle_waiting.sql queues it when its
-- dependencies allow (migration 000021).

-- depends_on and on_dependency_failure were added by issue 21 (dependencies): the old signature goes.
drop function if exists jobdeck_private.insert_job(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb);

create or replace function jobdeck_private.insert_job(
  type text, payload jsonb, priority integer, run_at timestamptz, max_attempts integer, key text,
  queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb,
  depends_on uuid[] default null, on_dependency_failure text default null
) returns jobdeck.jobs
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_id   uuid := gen_random_uuid();
  v_gw   bigint;
  v_job  jobdeck.jobs;
  v_keys record;
  v_turn timestamptz;
  v_rules bigint;
begin
  v_keys := jobdeck_private.job_limit_keys(insert_job.type, insert_job.org_id, insert_job.owner_id,
                                           insert_job.payload, null, insert_job.queue);
  if insert_job.depends_on is not null then
    insert into jobdeck.jobs as j (id, type, queue, priority, payload, max_attempts, run_at, owner_id, org_id,
                                   related_type, related_id, key, metadata, concurrency_key, rate_key, queue_rate_key, status,
                                   depends_on, on_dependency_failure)
    values (v_id, insert_job.type, insert_job.queue, insert_job.priority, insert_job.payload, insert_job.max_attempts,
            coalesce(insert_job.run_at, now()), insert_job.owner_id, insert_job.org_id, insert_job.related_type,
            insert_job.related_id, insert_job.key, insert_job.metadata, v_keys.concurrency_key, v_keys.rate_key,
            v_keys.queue_rate_key, 'waiting', insert_job.depends_on, insert_job.on_dependency_failure)
    returning j.* into v_job;
    return v_job;
  end if;
  v_turn := (jobdeck_private.fair_turns(array[insert_job.type], array[insert_job.queue],
               array[insert_job.org_id], array[insert_job.priority], array[insert_job.run_at]))[1];
  -- the rules and their version in one statement, one snapshot (start/flow_rules_version.sql)
  select jobdeck_private.flow_rules_version() into v_rules
   where insert_job.key is null
     and pg_column_size(insert_job.payload) + pg_column_size(insert_job.metadata) <= 8192
     and jobdeck_private.start_data_allowed(insert_job.type, insert_job.queue, insert_job.org_id);
  v_gw := (graphile_worker.add_job(
    identifier => insert_job.type,
    payload => jobdeck_private.graphile_payload(v_id, v_rules, insert_job.queue, insert_job.priority,
                 insert_job.payload, insert_job.max_attempts, coalesce(insert_job.run_at, now()), insert_job.owner_id,
                 insert_job.org_id, insert_job.related_type, insert_job.related_id, insert_job.metadata,
                 v_keys.concurrency_key, v_keys.rate_key, v_keys.queue_rate_key, v_turn),
    queue_name => case when insert_job.queue is not null then jobdeck_private.graphile_queue(insert_job.queue) end,
    run_at => coalesce(v_turn, insert_job.run_at, clock_timestamp()),
    max_attempts => 25,
    priority => insert_job.priority
  )).id;
  insert into jobdeck.jobs as j (id, type, queue, priority, payload, max_attempts, run_at, owner_id, org_id,
                                 related_type, related_id, key, metadata, gw_job_id,
                                 concurrency_key, rate_key, queue_rate_key, fair_at)
  values (v_id, insert_job.type, insert_job.queue, insert_job.priority, insert_job.payload, insert_job.max_attempts,
          coalesce(insert_job.run_at, now()), insert_job.owner_id, insert_job.org_id, insert_job.related_type,
          insert_job.related_id, insert_job.key, insert_job.metadata, v_gw, v_keys.concurrency_key, v_keys.rate_key,
          v_keys.queue_rate_key,
          v_turn)
  returning j.* into v_job;
  return v_job;
end;
$$;
revoke all on function jobdeck_private.insert_job(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, depends_on uuid[], on_dependency_failure text) from public;
