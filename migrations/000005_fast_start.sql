-- 000005: the worker's fast path (docs/performance.md).
--
-- Before: every attempt cost three awaited writes of the job row (running mark, progress, finish),
-- and a task slot was held for each round trip, so a worker at concurrency 50 did ~1.6k jobs/s.
-- Now:
--   * begin_jobs reads the rows of a batch of Graphile jobs and writes nothing for the common case
--     (a tracked job, no concurrency cap): the task starts at once;
--   * mark_running writes `running` a flush later, in a batch, carrying the latest progress; a job
--     that finished before its mark went out gets one write, its finish;
--   * finish_jobs accepts such unmarked attempts (matched by their Graphile job and attempt count)
--     and the transition trigger records both the `running` and the end transition for them;
--   * the worker no longer waits for its finish to commit before handing the job back to Graphile
--     Worker. A crash in between leaves either a `running` row of a dead worker (rescued as
--     before) or a waiting row whose Graphile job is gone, which requeue_orphans gives a new one.
-- Jobs with an organisation concurrency cap, and jobs without a tracked row, still go through
-- start_jobs (the cap is decided there, under the organisation's lock).

-- ---------------------------------------------------------------------------------------------
-- Caps: with no cap configured anywhere (the common case), nothing is capped and no job needs
-- looking at.

create or replace function jobdeck_private.capped_orgs(job_ids uuid[]) returns text[]
language plpgsql stable as $$
declare
  v_cap integer := jobdeck_private.org_cap();
begin
  if v_cap is null and not exists (select 1 from jobdeck_private.task_types t where t.org_concurrency is not null) then
    return null;
  end if;
  return (select array_agg(distinct j.org_id order by j.org_id)
            from jobdeck.jobs j left join jobdeck_private.task_types t on t.type = j.type
           where j.id = any(job_ids) and j.org_id is not null
             and (v_cap is not null or t.org_concurrency is not null));
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Start

-- Rows of the Graphile jobs in `items` ([{id, gw_job_id, ...}] as for start_jobs) that may run now.
-- Rows returned `running` were marked here (start_jobs); rows returned `queued`/`retrying` were
-- only read: the worker marks them with mark_running, or its finish_jobs does.
create function jobdeck_private.begin_jobs(items jsonb, worker_id text) returns setof jobdeck.jobs
language plpgsql volatile
as $$
declare
  v_fast uuid[];
  v_cap  integer;
begin
  v_cap := jobdeck_private.org_cap();
  -- The rows by primary key first (materialized): with the status in the same scan the planner,
  -- misled by a busy table's stale statistics, may walk the active-jobs index instead.
  with r as materialized (
    select j.id, j.gw_job_id, j.status, j.held_at, j.org_id, j.type
      from jobdeck.jobs j
     where j.id = any(array(select (e ->> 'id')::uuid from jsonb_array_elements(items) e where e ->> 'id' is not null))
  )
  select array_agg(r.id order by r.id) into v_fast
    from r
    join jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint) on v.id = r.id and v.gw_job_id = r.gw_job_id
    left join jobdeck_private.task_types t on t.type = r.type
   where r.status in ('queued', 'retrying') and r.held_at is null
     and (r.org_id is null or (v_cap is null and t.org_concurrency is null));

  if v_fast is not null then
    return query select j.* from jobdeck.jobs j where j.id = any(v_fast);
  end if;
  if exists (select 1 from jsonb_to_recordset(items) as v(id uuid)
              where v.id is null or v_fast is null or v.id <> all(v_fast)) then
    return query
    select s.* from jobdeck_private.start_jobs(
      (select jsonb_agg(e) from jsonb_array_elements(items) e
        where (e ->> 'id') is null or v_fast is null or (e ->> 'id')::uuid <> all(v_fast)),
      worker_id) s;
  end if;
end;
$$;

-- Marks read-only starts running. `items`: [{id, gw_job_id, attempt, started_at, progress, step,
-- completed, total}]; `attempt` is the attempt the worker runs (the row's attempts + 1). A row is
-- marked only while it still waits for exactly that attempt. Returns every item with whether it
-- was marked and, when not, the status it had (cancelled: the worker aborts the attempt).
create function jobdeck_private.mark_running(items jsonb, worker_id text)
returns table (id uuid, marked boolean, status text)
language plpgsql volatile
as $$
declare
  v_marked uuid[];
  v_ids    uuid[] := array(select (e ->> 'id')::uuid from jsonb_array_elements(items) e);
begin
  with v as (
    select * from jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint, attempt integer, started_at timestamptz,
                                                 progress integer, step text, completed integer, total integer)
  ), upd as (
    update jobdeck.jobs j
       set status = 'running', attempts = v.attempt, worker_id = mark_running.worker_id, started_at = v.started_at,
           heartbeat_at = now(), updated_at = now(), progress = coalesce(v.progress, 0), current_step = v.step,
           completed_steps = coalesce(v.completed, 0), total_steps = v.total,
           peak_rss_bytes = null, cpu_ms = null,
           eta_at = case
             when coalesce(v.progress, 0) between 1 and 99
               then now() + (now() - v.started_at) * ((100 - v.progress)::float8 / v.progress)
             else v.started_at + (select t.median_ms from jobdeck_private.task_types t where t.type = j.type)
                                 * interval '1 millisecond'
           end
      from v
     where j.id = any(v_ids) and j.id = v.id  -- by primary key only, see finish_jobs
       and (j.status || '') in ('queued', 'retrying') and j.held_at is null
       and j.gw_job_id + 0 = v.gw_job_id and j.attempts = v.attempt - 1
    returning j.id
  )
  select array_agg(upd.id) into v_marked from upd;

  return query
  select v.id, coalesce(v.id = any(v_marked), false), j.status
    from jsonb_to_recordset(items) as v(id uuid)
    left join jobdeck.jobs j on j.id = v.id;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Finish: as before (000003), plus unmarked attempts. Items carry gw_job_id and started_at.

create or replace function jobdeck_private.finish_jobs(items jsonb, worker_id text)
returns table (id uuid, status text)
language plpgsql volatile
as $$
declare
  v_ids     uuid[];
  v_orgs    text[];
  v_done    jsonb;
begin
  select array_agg(v.id) into v_ids from jsonb_to_recordset(items) as v(id uuid);
  v_orgs := jobdeck_private.capped_orgs(v_ids);
  perform jobdeck_private.lock_orgs(v_orgs);
  -- Row locks in id order (no deadlock with other batches), and the update below then reads a
  -- snapshot taken after them, so a cancel that committed meanwhile is seen.
  perform 1 from jobdeck.jobs j where j.id = any(v_ids) order by j.id for update;

  with v as (
    select * from jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint, started_at timestamptz, attempt integer,
                                                 outcome text, retryable boolean, result jsonb, error jsonb,
                                                 peak_rss_bytes bigint, cpu_ms bigint, progress integer, step text,
                                                 completed integer, total integer)
  ), upd as (
    update jobdeck.jobs j
       set status = d.status,
           result = case when d.status = 'succeeded' then v.result else j.result end,
           errors = case when v.error is null then j.errors else j.errors || jsonb_build_array(v.error) end,
           attempts = case when d.status = 'queued' then greatest(v.attempt - 1, 0) else v.attempt end,
           worker_id = finish_jobs.worker_id,
           started_at = case when d.marked then j.started_at else v.started_at end,
           finished_at = case when d.status in ('succeeded', 'failed', 'cancelled') then now() end,
           progress = case when d.status = 'succeeded' then 100
                           else coalesce(v.progress, case when d.marked then j.progress else 0 end) end,
           current_step = coalesce(v.step, case when d.marked then j.current_step end),
           total_steps = coalesce(v.total, case when d.marked then j.total_steps end),
           completed_steps = case when d.status = 'succeeded' and coalesce(v.total, case when d.marked then j.total_steps end) is not null
                                  then coalesce(v.total, case when d.marked then j.total_steps end)
                                  else coalesce(v.completed, case when d.marked then j.completed_steps else 0 end) end,
           run_at = case d.status
                      when 'retrying' then now() + jobdeck_private.retry_delay(
                        (select t.backoff from jobdeck_private.task_types t where t.type = j.type), v.attempt)
                      when 'queued' then now()
                      else j.run_at end,
           gw_job_id = case when d.status in ('retrying', 'queued') then null else j.gw_job_id end,
           cancel_requested_at = case when d.status = 'cancelled' then coalesce(j.cancel_requested_at, now())
                                      else j.cancel_requested_at end,
           eta_at = null, updated_at = now(), heartbeat_at = now(),
           peak_rss_bytes = greatest(v.peak_rss_bytes, case when d.marked then j.peak_rss_bytes end),
           cpu_ms = coalesce(v.cpu_ms, case when d.marked then j.cpu_ms end)
      from v
      cross join lateral (
        select jj.status = 'running' as marked,
               case
                 when v.outcome = 'succeeded' then 'succeeded'
                 when v.outcome = 'cancelled' then 'cancelled'
                 when jj.cancel_requested_at is not null then 'cancelled'
                 when v.outcome = 'interrupted' then 'queued'
                 when v.outcome = 'error' and v.retryable and v.attempt < jj.max_attempts then 'retrying'
                 else 'failed'
               end as status
          from jobdeck.jobs jj where jj.id = v.id
      ) d
     -- Rows by primary key only: with a status test a partial index implies (`|| ''` hides it),
     -- the planner, misled by a busy table's stale statistics, walks thousands of waiting rows.
     where j.id = any(v_ids) and j.id = v.id
       and (((j.status || '') = 'running' and j.worker_id = finish_jobs.worker_id and j.attempts = v.attempt)
         or ((j.status || '') in ('queued', 'retrying') and j.held_at is null and j.gw_job_id = v.gw_job_id
             and j.attempts = v.attempt - 1))
    returning j.id, j.status
  )
  select coalesce(jsonb_agg(jsonb_build_object('id', upd.id, 'status', upd.status)), '[]') into v_done from upd;

  -- The next attempt of each requeued job gets a Graphile job of its own.
  if exists (select 1 from jsonb_to_recordset(v_done) as f(id uuid, status text) where f.status in ('retrying', 'queued')) then
    with gw as (
      select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
        from graphile_worker.add_jobs(array(
          select row(j.type, json_build_object('jobdeckId', j.id), j.queue, j.run_at, 25, null,
                     j.priority, null)::graphile_worker.job_spec
            from jobdeck.jobs j
            join jsonb_to_recordset(v_done) as f(id uuid, status text)
              on f.id = j.id and f.status in ('retrying', 'queued'))) g
    )
    update jobdeck.jobs j set gw_job_id = gw.gw_job_id from gw where j.id = gw.id;
  end if;

  if v_orgs is not null then
    perform jobdeck_private.release_held(v_orgs);
  end if;
  return query select f.id, f.status from jsonb_to_recordset(v_done) as f(id uuid, status text);
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Transitions: an unmarked attempt that ends is recorded as two transitions, `running` (at its
-- start) and its end, so the timeline and the attempt history read as for a marked one. A cancel
-- of a waiting job is also sent to workers: one may be running it unmarked.

create or replace function jobdeck_private.tg_jobs__after_update() returns trigger
language plpgsql as $$
begin
  perform pg_notify(jobdeck.channel_name(c.kind, c.id), r.message)
  from (
    select n.id, n.owner_id, n.org_id,
           jsonb_build_object('id', n.id, 'status', n.status, 'progress', n.progress,
                              'owner', n.owner_id, 'org', n.org_id)::text as message
    from new_rows n join old_rows o on o.id = n.id
    where (n.status, n.progress, n.current_step, n.completed_steps, n.total_steps, n.attempts, n.cancel_requested_at,
           n.held_at is null, n.run_at, n.owner_id, n.org_id)
      is distinct from
          (o.status, o.progress, o.current_step, o.completed_steps, o.total_steps, o.attempts, o.cancel_requested_at,
           o.held_at is null, o.run_at, o.owner_id, o.org_id)
  ) r
  cross join lateral (values ('job', r.id::text), ('owner', r.owner_id), ('org', r.org_id)) as c(kind, id)
  where c.id is not null;

  perform pg_notify('jobdeck:cancel', json_build_object('id', n.id, 'workerId', null, 'reason', n.cancel_reason)::text)
     from new_rows n join old_rows o on o.id = n.id
    where n.status = 'cancelled' and o.status in ('queued', 'retrying');

  insert into jobdeck.job_events (job_id, at, kind, level, message, data, attempt)
  select e.job_id, e.at, 'transition', e.level, e.message, e.data, e.attempt
  from (
    -- the start of an attempt that was only marked by its end
    select n.id as job_id, n.started_at as at, 'info' as level,
           'running (attempt ' || n.attempts || ')' as message,
           jsonb_build_object('from', o.status, 'to', 'running') as data, n.attempts as attempt,
           1 as ord
      from new_rows n join old_rows o on o.id = n.id
     where o.status in ('queued', 'retrying') and n.status <> 'running' and n.attempts > o.attempts
       and n.started_at is not null
    union all
    select n.id, now(),
           case n.status when 'failed' then 'error' when 'retrying' then 'warn' else 'info' end,
           case
             when n.status in ('failed', 'retrying') and jsonb_array_length(n.errors) > jsonb_array_length(o.errors)
               then n.status || ': ' || left(n.errors -> -1 ->> 'message', 500)
             when n.status = 'retrying' then 'retrying at ' || to_char(n.run_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
             when n.status = 'queued' and o.status = 'running' then 'queued again: the attempt was interrupted by a worker shutdown'
             when n.status = 'cancelled' and n.cancel_reason is not null then 'cancelled: ' || left(n.cancel_reason, 500)
             when n.status = 'running' and o.status = 'running' then 'running (attempt ' || n.attempts || ', rescued)'
             when n.status = 'running' then 'running (attempt ' || n.attempts || ')'
             else n.status
           end,
           jsonb_build_object('from', case when o.status in ('queued', 'retrying') and n.status <> 'running'
                                                and n.attempts > o.attempts then 'running' else o.status end,
                              'to', n.status) ||
             case when n.status = 'retrying' then jsonb_build_object('runAt', n.run_at) else '{}' end,
           n.attempts,
           2
      from new_rows n join old_rows o on o.id = n.id
     where n.status is distinct from o.status
        or (n.status = 'running' and n.attempts is distinct from o.attempts)
        or (n.status = 'retrying' and n.attempts > o.attempts)
  ) e
  order by e.job_id, e.ord;
  return null;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Orphans: waiting rows whose Graphile job is gone. A worker that crashed after Graphile Worker
-- completed a job but before its finish committed leaves one behind. Workers look for candidates
-- now and then and requeue those still orphaned at the next look (a live worker's finish lands
-- within milliseconds, long before that).

-- One page of the sweep: scans at most `scan` unfinished jobs, newest first, after the cursor
-- (created_at, id) of the previous page (null: from the start), through the active-jobs index.
-- Returns the orphans found and the cursor to continue from (null once the end is reached; the
-- time as text, to keep its microseconds), so a large backlog costs each sweep a bounded amount.
create function jobdeck_private.orphaned_jobs(after_created timestamptz default null, after_id uuid default null,
                                              scan integer default 5000)
returns table (id uuid, gw_job_id bigint, next_created text, next_id uuid)
language sql stable as $$
  with page as materialized (
    select j.id, j.gw_job_id, j.status, j.held_at, j.created_at
      from jobdeck.jobs j
     where j.status in ('queued', 'running', 'retrying')
       and (after_created is null
            or j.created_at < after_created or (j.created_at = after_created and j.id > after_id))
     order by j.created_at desc, j.id
     limit scan
  ), last as (
    select p.created_at, p.id from page p order by p.created_at, p.id desc limit 1
  )
  select o.id, o.gw_job_id,
         case when (select count(*) from page) = scan then (select l.created_at::text from last l) end,
         case when (select count(*) from page) = scan then (select l.id from last l) end
    from (select p.id, p.gw_job_id from page p
           where p.status in ('queued', 'retrying') and p.held_at is null
             and not exists (select 1 from graphile_worker.jobs g where g.id = p.gw_job_id)
          union all
          -- the cursor row, so the caller learns where to go on even when nothing is orphaned
          select null, null) o
$$;

-- Gives each candidate ([{id, gw_job_id}] from orphaned_jobs) that is still waiting on the same
-- missing Graphile job a new one, and records why. Returns the requeued ids.
create function jobdeck_private.requeue_orphans(items jsonb) returns setof uuid
language plpgsql volatile as $$
declare
  v_ids uuid[];
begin
  select array_agg(j.id order by j.id) into v_ids
    from (select j.id from jobdeck.jobs j
            join jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint) on v.id = j.id
           where j.status in ('queued', 'retrying') and j.held_at is null
             and j.gw_job_id is not distinct from v.gw_job_id
             and not exists (select 1 from graphile_worker.jobs g where g.id = j.gw_job_id)
           order by j.id
             for update of j skip locked) j;
  if v_ids is null then
    return;
  end if;
  with gw as (
    select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
      from graphile_worker.add_jobs(array(
        select row(j.type, json_build_object('jobdeckId', j.id), j.queue, greatest(j.run_at, now()), 25, null,
                   j.priority, null)::graphile_worker.job_spec
          from jobdeck.jobs j where j.id = any(v_ids))) g
  ), upd as (
    update jobdeck.jobs j set gw_job_id = gw.gw_job_id, updated_at = now() from gw where j.id = gw.id
    returning j.id, j.attempts
  )
  insert into jobdeck.job_events (job_id, kind, level, message, attempt)
  select upd.id, 'control', 'warn',
         'requeued: its Graphile Worker job was gone (a worker stopped before recording the outcome)', upd.attempts
    from upd;
  return query select unnest(v_ids);
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- A worker whose Graphile Worker pool shut down (a major database error) starts a new pool; the
-- jobs the old one had locked are released first, their Graphile attempt not counted (jobdeck
-- counts its own, as in rescue_workers).

create function jobdeck_private.release_pools(pool_ids text[]) returns integer
language plpgsql volatile as $$
declare
  v_gw bigint[];
begin
  select array_agg(g.id) into v_gw from graphile_worker.jobs g where g.locked_by = any(pool_ids);
  perform graphile_worker.force_unlock_workers(pool_ids);
  if v_gw is not null then
    perform graphile_worker.reschedule_jobs(v_gw, attempts => 0);
  end if;
  return coalesce(cardinality(v_gw), 0);
end;
$$;
