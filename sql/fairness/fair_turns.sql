-- jobdeck_private.fair_turns(types, queues, org_ids, priorities, run_ats): each new job's turn.
--
-- The arrays describe a batch of new jobs, one element each. Returns, in the same order, the
-- run_at its Graphile job gets: its turn when it takes turns, null when it does not (then it keeps
-- its real run_at). A job takes turns unless its queue (jobdeck.set_queue_fairness) or else its
-- task type (defineTask({ fairness: false })) says 'off', and unless it has a delay (run_at in the
-- future: it must not run early).
--
-- Start-time fair queuing through Graphile Worker's claim order (priority, run_at): each tenant
-- (organisation; jobs without one form one tenant) has, per priority, a clock: its latest turn
-- (jobdeck.jobs.fair_at, read from jobs_fair_turn_idx, so no counter row is locked on the enqueue
-- path and concurrent enqueues never wait for each other; two of one tenant may share a turn,
-- which only costs a little precision). The k-th new job of a tenant in the batch gets
--
--   greatest(last + q, head, now() - 1 hour) + k * q,   q = 10 µs / the tenant's weight
--
-- where head is the run_at of the oldest runnable Graphile job of that priority (least now()):
-- the service's virtual time. A tenant with 100,000 jobs waiting has turns head … head + 1 s; a
-- tenant arriving later starts at the head and interleaves at the front. Turns are real times,
-- mostly in the past, so an idle queue behaves like first-in first-out and jobs without turns
-- (delays come due, retries, fairness off) sort among them by their real time. The hour bounds
-- how far fair jobs may overtake those, and the credit a stuck job at the head could give.
-- Priority still comes first: Graphile orders by priority before run_at.

create or replace function jobdeck_private.fair_turns(
  types text[], queues text[], org_ids text[], priorities integer[], run_ats timestamptz[]
) returns timestamptz[]
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  with s as materialized (
    select t.ord, t.org_id, t.priority,
           coalesce((select f.fairness from jobdeck_private.queue_fairness f where f.queue = t.queue),
                    (select tt.fairness from jobdeck_private.task_types tt where tt.type = t.type),
                    'org') = 'org'
             and (t.run_at is null or t.run_at <= now()) as fair
      from unnest(types, queues, org_ids, priorities, run_ats)
           with ordinality as t(type, queue, org_id, priority, run_at, ord)
  ), f as (
    select s.ord, s.org_id, s.priority,
           row_number() over (partition by s.org_id, s.priority order by s.ord) - 1 as k
      from s
     where s.fair
  ), g as (
    select d.org_id, d.priority,
           interval '10 microseconds'
             / coalesce((select w.weight from jobdeck_private.org_weights w where w.org_id = d.org_id), 1) as q,
           case when d.org_id is null
                then (select max(j.fair_at) from jobdeck.jobs j
                       where j.org_id is null and j.priority = d.priority and j.fair_at is not null)
                else (select max(j.fair_at) from jobdeck.jobs j
                       where j.org_id = d.org_id and j.priority = d.priority and j.fair_at is not null)
           end as last_at,
           (select gj.run_at from graphile_worker._private_jobs gj
             where gj.is_available and gj.priority = d.priority
             order by gj.run_at limit 1) as head_at
      from (select distinct f.org_id, f.priority from f) d
  )
  select array_agg(
           greatest(g.last_at + g.q, least(coalesce(g.head_at, now()), now()), now() - interval '1 hour')
             + g.q * f.k
           order by s.ord)
    from s
    left join f on f.ord = s.ord
    left join g on g.org_id is not distinct from f.org_id and g.priority = f.priority
$$;
comment on function jobdeck_private.fair_turns(text[], text[], text[], integer[], timestamptz[]) is
  'The Graphile run_at (turn) of each new job that takes turns between tenants, null for the others.';
revoke all on function jobdeck_private.fair_turns(types text[], queues text[], org_ids text[], priorities integer[], run_ats timestamptz[]) from public;
