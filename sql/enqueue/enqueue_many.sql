-- jobdeck_private.enqueue_many(specs): checks and adds many jobs, all or none.
-- requires: enqueue/add_keyed_job.sql enqueue/check_job_spec.sql enqueue/insert_job.sql
-- requires: concurrency/graphile_queue.sql concurrency/job_limit_keys.sql fairness/fair_turns.sql
-- requires: start/graphile_payload.sql start/start_data_allowed.sql start/flow_rules_version.sql
--
-- `specs` is a JSON array of objects with the fields of enqueue() in camelCase or snake_case,
-- keyMode included. All are checked before any is written. Without keys, one add_jobs() call and
-- one INSERT serve the whole batch, and one fair_turns call gives the batch its turns between
-- tenants; with keys, each job goes in on its own. Written as
-- jobdeck.enqueue_many (migrations 000002, 000003) and moved here in 000004.
--
-- Graphile Worker claims in (priority, run_at) order with no further tie-break, so the jobs of a
-- batch would otherwise share a run_at and start in the order their rows landed on disk (free
-- space reused after deletes puts later rows first). Each Graphile job without a turn therefore
-- gets its time (or clock_timestamp() when it has none) plus its position in microseconds: a
-- batch starts in the order it was given, and the next call in the same transaction sorts after it
-- (writing a job takes far longer than a microsecond). jobdeck.jobs.run_at stays the real time.
--
-- plan_cache_mode: its statements are planned once per connection (migration 000007,
-- docs/performance.md); no plan depends on a parameter's value.

create or replace function jobdeck_private.enqueue_many(specs jsonb) returns setof jobdeck.jobs
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_spec  jsonb;
  v_i     integer := 0;
  v_max   integer[] := '{}';
  v_int   jsonb;
  v_keyed boolean := false;
  v_now   timestamptz := clock_timestamp();
  -- The flow rules' version, read before the statement that checks the rules: a rule that check
  -- does not see had not committed when this was read either (start/flow_rules_version.sql).
  v_rules bigint := jobdeck_private.flow_rules_version();
begin
  if specs is null or jsonb_typeof(specs) <> 'array' then
    raise exception 'jobs must be a JSON array of job specs' using errcode = 'JD004';
  end if;
  for v_spec in select jsonb_array_elements(specs) loop
    if jsonb_typeof(v_spec) <> 'object' then
      raise exception 'jobs[%]: must be an object like {"type": "...", "payload": {...}}', v_i using errcode = 'JD004';
    end if;
    foreach v_int in array array[v_spec -> 'priority', coalesce(v_spec -> 'maxAttempts', v_spec -> 'max_attempts')] loop
      if v_int is not null and v_int <> 'null'::jsonb
         and (jsonb_typeof(v_int) <> 'number' or (v_int::text)::numeric <> trunc((v_int::text)::numeric)
              or abs((v_int::text)::numeric) > 2147483647) then
        raise exception 'jobs[%]: priority and maxAttempts must be whole numbers, got %', v_i, v_int using errcode = 'JD004';
      end if;
    end loop;
    v_max := v_max || jobdeck_private.check_job_spec(
      'jobs[' || v_i || ']', v_spec ->> 'type', coalesce(v_spec -> 'payload', '{}'),
      coalesce((v_spec ->> 'priority')::integer, 0),
      (coalesce(v_spec ->> 'runAt', v_spec ->> 'run_at'))::timestamptz,
      (coalesce(v_spec ->> 'maxAttempts', v_spec ->> 'max_attempts'))::integer,
      v_spec ->> 'key', v_spec ->> 'queue', coalesce(v_spec -> 'metadata', '{}'));
    if coalesce(v_spec ->> 'keyMode', v_spec ->> 'key_mode', 'keep') not in ('keep', 'replace') then
      raise exception 'jobs[%]: keyMode must be keep or replace, got %', v_i,
        coalesce(v_spec -> 'keyMode', v_spec -> 'key_mode') using errcode = 'JD004';
    end if;
    v_keyed := v_keyed or (v_spec ->> 'key') is not null;
    v_i := v_i + 1;
  end loop;

  if v_keyed then
    -- Keyed jobs dedupe one by one (see add_keyed_job); unkeyed ones in the same list go in singly too.
    v_i := 0;
    for v_spec in select jsonb_array_elements(specs) loop
      v_i := v_i + 1;
      if (v_spec ->> 'key') is null then
        return next jobdeck_private.insert_job(
          v_spec ->> 'type', coalesce(v_spec -> 'payload', '{}'), coalesce((v_spec ->> 'priority')::integer, 0),
          (coalesce(v_spec ->> 'runAt', v_spec ->> 'run_at'))::timestamptz, v_max[v_i], null, v_spec ->> 'queue',
          coalesce(v_spec ->> 'ownerId', v_spec ->> 'owner_id'), coalesce(v_spec ->> 'orgId', v_spec ->> 'org_id'),
          coalesce(v_spec ->> 'relatedType', v_spec ->> 'related_type'),
          coalesce(v_spec ->> 'relatedId', v_spec ->> 'related_id'), coalesce(v_spec -> 'metadata', '{}'));
        continue;
      end if;
      return next jobdeck_private.add_keyed_job(
        v_spec ->> 'type', coalesce(v_spec -> 'payload', '{}'), coalesce((v_spec ->> 'priority')::integer, 0),
        (coalesce(v_spec ->> 'runAt', v_spec ->> 'run_at'))::timestamptz, v_max[v_i], v_spec ->> 'key',
        coalesce(v_spec ->> 'keyMode', v_spec ->> 'key_mode', 'keep'), v_spec ->> 'queue', coalesce(v_spec ->> 'ownerId', v_spec ->> 'owner_id'),
        coalesce(v_spec ->> 'orgId', v_spec ->> 'org_id'), coalesce(v_spec ->> 'relatedType', v_spec ->> 'related_type'),
        coalesce(v_spec ->> 'relatedId', v_spec ->> 'related_id'), coalesce(v_spec -> 'metadata', '{}'));
    end loop;
    return;
  end if;

  return query
  with s as materialized (
    select e.ord, gen_random_uuid() as id, e.spec ->> 'type' as type,
           coalesce(e.spec -> 'payload', '{}') as payload,
           coalesce((e.spec ->> 'priority')::integer, 0) as priority,
           (coalesce(e.spec ->> 'runAt', e.spec ->> 'run_at'))::timestamptz as run_at,
           v_max[e.ord] as max_attempts,
           e.spec ->> 'queue' as queue,
           coalesce(e.spec ->> 'ownerId', e.spec ->> 'owner_id') as owner_id,
           coalesce(e.spec ->> 'orgId', e.spec ->> 'org_id') as org_id,
           coalesce(e.spec ->> 'relatedType', e.spec ->> 'related_type') as related_type,
           coalesce(e.spec ->> 'relatedId', e.spec ->> 'related_id') as related_id,
           coalesce(e.spec -> 'metadata', '{}') as metadata
      from jsonb_array_elements(specs) with ordinality as e(spec, ord)
  ), k as materialized (
    -- keys under per-key limits, computed (and refused) before anything is written
    select s.id, lk.concurrency_key, lk.rate_key, lk.queue_rate_key
      from s cross join lateral jobdeck_private.job_limit_keys(s.type, s.org_id, s.owner_id, s.payload,
                                                              'jobs[' || (s.ord - 1) || ']', s.queue) lk
  ), t as materialized (
    select jobdeck_private.fair_turns(array_agg(s.type order by s.ord), array_agg(s.queue order by s.ord),
                                      array_agg(s.org_id order by s.ord), array_agg(s.priority order by s.ord),
                                      array_agg(s.run_at order by s.ord)) as turns
      from s
  ), a as materialized (
    -- whether a job may carry start data, asked once per type, queue and organisation of the batch
    -- ('' stands for none: neither a queue nor an organisation can be named '')
    select d.type, d.queue_k, d.org_k,
           jobdeck_private.start_data_allowed(d.type, nullif(d.queue_k, ''), nullif(d.org_k, '')) as ok
      from (select distinct s.type, coalesce(s.queue, '') as queue_k, coalesce(s.org_id, '') as org_k from s) d
  ), gw as (
    select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
      from graphile_worker.add_jobs(array(
        -- (the CASE spares the common job without a queue the call)
        select row(s.type,
                   -- start data (start/graphile_payload.sql) for a job no flow rule covers
                   jobdeck_private.graphile_payload(s.id,
                     case when pg_column_size(s.payload) + pg_column_size(s.metadata) <= 8192 and a.ok
                          then v_rules end,
                     s.queue, s.priority, s.payload, s.max_attempts, coalesce(s.run_at, now()), s.owner_id,
                     s.org_id, s.related_type, s.related_id, s.metadata, k.concurrency_key, k.rate_key,
                     k.queue_rate_key, t.turns[s.ord]),
                   case when s.queue is not null then jobdeck_private.graphile_queue(s.queue) end,
                   coalesce(t.turns[s.ord], coalesce(s.run_at, v_now) + (s.ord - 1) * interval '1 microsecond'),
                   25, null, s.priority, null)::graphile_worker.job_spec
          from s join k on k.id = s.id
          join a on a.type = s.type and a.queue_k = coalesce(s.queue, '') and a.org_k = coalesce(s.org_id, '')
          cross join t order by s.ord)) as g
  ), ins as (
    insert into jobdeck.jobs as j (id, type, queue, priority, payload, max_attempts, run_at, owner_id, org_id,
                                   related_type, related_id, metadata, gw_job_id, concurrency_key, rate_key, queue_rate_key,
                                   fair_at)
    select s.id, s.type, s.queue, s.priority, s.payload, s.max_attempts, coalesce(s.run_at, now()), s.owner_id,
           s.org_id, s.related_type, s.related_id, s.metadata, gw.gw_job_id, k.concurrency_key, k.rate_key, k.queue_rate_key,
           t.turns[s.ord]
      from s join gw on gw.id = s.id join k on k.id = s.id cross join t
    returning j.*
  )
  select ins.* from ins join s on s.id = ins.id order by s.ord;
end;
$$;
revoke all on function jobdeck_private.enqueue_many(specs jsonb) from public;
