-- jobdeck_private.graphile_payload(id, rules_version, …the row's values at enqueue): the payload
-- of a tracked job's Graphile job: `{"jobdeckId": id}`, plus `"start"` with what the worker needs
-- to start its first attempt without reading the row, when `rules_version` is not null
-- (enqueue/insert_job.sql and enqueue/enqueue_many.sql decide: no key, no flow rule over it,
-- payload and metadata within 8 kB; the version of the flow rules it was checked against,
-- flow_rules_version.sql). The worker builds the row from it, every other column at its default
-- for a new job (src/worker/start-data.ts; test/integration/start-data.test.ts compares the two
-- for each kind of job), so the two files change together. `created_at` is the enqueue's now(),
-- which is also the row's updated_at.
--
-- `language sql`, one expression, no settings: the planner inlines it into the enqueue's
-- statements, so no `set search_path` (a SET clause stops inlining): every function it calls is
-- schema-qualified (docs/security.md).

create or replace function jobdeck_private.graphile_payload(
  id uuid, rules_version bigint, queue text, priority integer, payload jsonb, max_attempts integer,
  run_at timestamptz, owner_id text, org_id text, related_type text, related_id text, metadata jsonb,
  concurrency_key text, rate_key text, queue_rate_key text, fair_at timestamptz
) returns json
language sql stable
as $$
  select case when rules_version is not null then
           pg_catalog.json_build_object('jobdeckId', id, 'start', pg_catalog.json_build_object(
             'queue', queue, 'priority', priority, 'payload', payload, 'max_attempts', max_attempts,
             'run_at', run_at, 'created_at', pg_catalog.now(), 'owner_id', owner_id, 'org_id', org_id,
             'related_type', related_type, 'related_id', related_id, 'metadata', metadata,
             'concurrency_key', concurrency_key, 'rate_key', rate_key, 'queue_rate_key', queue_rate_key,
             'fair_at', fair_at, 'rules', rules_version))
         else pg_catalog.json_build_object('jobdeckId', id) end
$$;
revoke all on function jobdeck_private.graphile_payload(id uuid, rules_version bigint, queue text, priority integer, payload jsonb, max_attempts integer, run_at timestamptz, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, concurrency_key text, rate_key text, queue_rate_key text, fair_at timestamptz) from public;
