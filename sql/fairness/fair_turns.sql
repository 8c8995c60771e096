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
-- among its jobs still waiting to start (jobdeck.jobs.fair_at, read from the end of
-- jobs_fair_turn_idx, which holds queued and retrying jobs only, migration 000023; a tenant with
-- nothing waiting starts again from the head of the queue), so no counter row is locked on the
-- enqueue path and concurrent enqueues never wait for each other; two of one tenant may share a
-- turn, which only costs a little precision). The k-th new job of a tenant in the batch gets
--
--   greatest(last + q, head, now() - 1 hour) + k * q,   q = 20 µs / the tenant's weight
--
-- where head is the run_at of the oldest runnable Graphile job of that priority (least now()):
-- the service's virtual time. A tenant with 100,000 jobs waiting has turns head … head + 2 s; a
-- tenant arriving later starts at the head and interleaves at the front. Turns are real times,
-- mostly in the past, so an idle queue behaves like first-in first-out and jobs without turns
-- (delays come due, retries, fairness off) sort among them by their real time. The hour bounds
-- how far fair jobs may overtake those, and the credit a stuck job at the head could give.
-- Priority still comes first: Graphile orders by priority before run_at. Turns are whole
-- microseconds: within a batch k * q is rounded once, so weights hold exactly on average; one
-- job at a time rounds q itself (weight 3: 7 µs, 2.86 turns for one).
--
-- PL/pgSQL with generic plans, not `language sql`: its statements are then planned once per
-- connection instead of at every call (planning was most of the cost of a single enqueue's turn),
-- and a single job (insert_job) takes four index probes without the batch query's window and
-- joins (docs/performance.md).

create or replace function jobdeck_private.fair_turns(
  types text[], queues text[], org_ids text[], priorities integer[], run_ats timestamptz[]
) returns timestamptz[]
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
begin
  if cardinality(types) = 1 then
    -- one job (every single enqueue): one statement; the turn's two reads run only for a job that
    -- takes turns (scalar sub-selects in a CASE are evaluated when reached)
    return array[(
      select case when c.fair then
               greatest((select max(j.fair_at) from jobdeck.jobs j
                          where coalesce(j.org_id, '') = coalesce(org_ids[1], '') and j.priority = priorities[1]
                            and j.fair_at is not null and j.status in ('queued', 'retrying')
                            and j.purge_on = 'infinity')  -- a literal: planned against jobs_live only
                          + interval '1 microsecond'
                            * (20.0 / coalesce((select w.weight from jobdeck_private.org_weights w
                                                 where w.org_id = org_ids[1]), 1)),
                        least(coalesce((select gj.run_at from graphile_worker._private_jobs gj
                                         where gj.is_available and gj.priority = priorities[1]
                                         order by gj.run_at limit 1), now()), now()),
                        now() - interval '1 hour')
             end
        from (select (run_ats[1] is null or run_ats[1] <= now())
                     and coalesce((select f.fairness from jobdeck_private.queue_fairness f where f.queue = queues[1]),
                                  (select tt.fairness from jobdeck_private.task_types tt where tt.type = types[1]),
                                  'org') = 'org' as fair) c
    )];
  end if;
  return (
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
           20.0 / coalesce((select w.weight from jobdeck_private.org_weights w where w.org_id = d.org_id), 1) as q,
           (select max(j.fair_at) from jobdeck.jobs j
             where coalesce(j.org_id, '') = coalesce(d.org_id, '') and j.priority = d.priority
               and j.fair_at is not null and j.status in ('queued', 'retrying')
               and j.purge_on = 'infinity') as last_at,  -- a literal: planned against jobs_live only
           (select gj.run_at from graphile_worker._private_jobs gj
             where gj.is_available and gj.priority = d.priority
             order by gj.run_at limit 1) as head_at
      from (select distinct f.org_id, f.priority from f) d
  )
  select array_agg(
           greatest(g.last_at + interval '1 microsecond' * g.q, least(coalesce(g.head_at, now()), now()),
                    now() - interval '1 hour')
             + interval '1 microsecond' * (g.q * f.k)
           order by s.ord)
    from s
    left join f on f.ord = s.ord
    left join g on g.org_id is not distinct from f.org_id and g.priority = f.priority
  );
end;
$$;
comment on function jobdeck_private.fair_turns(text[], text[], text[], integer[], timestamptz[]) is
  'The Graphile run_at (turn) of each new job that takes turns between tenants, null for the others.';
revoke all on function jobdeck_private.fair_turns(types text[], queues text[], org_ids text[], priorities integer[], run_ats timestamptz[]) from public;
