-- jobdeck_private.finish_jobs(items, worker_id): records the outcome of a batch of attempts.
-- requires: concurrency/capped_orgs.sql concurrency/lock_orgs.sql concurrency/release_held.sql worker/retry_delay.sql
-- requires: concurrency/limit_keys.sql concurrency/lock_limits.sql concurrency/graphile_queue.sql
-- requires: worker/requeued_priority.sql
--
-- `items`: [{id, gw_job_id, started_at, attempt, outcome, retryable, result, error,
-- peak_rss_bytes, cpu_ms, progress, step, completed, total, wake_at}] with outcome one of
--   succeeded | error (retrying or failed, by `retryable` and the attempts left) | cancelled |
--   interrupted (worker shutdown: back to queued without spending the attempt) |
--   rate_limited (the task said "rate limited, retry after delay_ms": back to queued at now +
--   delay_ms without spending the attempt, held_reason and a `rate limited by the task` event
--   saying so, rate_deferrals counted; the worker bounds those, src/worker/outcome.ts) |
--   parked (ctx.sleep / ctx.waitFor, migration 000017: back to queued without spending the
--   attempt, to run at `wake_at`; at once when a signal its wait consumes was already sent).
-- Only this worker's current attempt is touched, marked `running` or still waiting unmarked
-- (matched by its Graphile job and attempt count): a finish from a worker that was declared dead
-- changes nothing. Each requeued job gets a new Graphile job. Locks and reads what decides the
-- outcome in the same statement as the update (migration 000006). Returns the status each job
-- ended in.
--
-- plan_cache_mode: its statements are planned once per connection (migration 000007,
-- docs/performance.md); no plan depends on a parameter's value.

create or replace function jobdeck_private.finish_jobs(items jsonb, worker_id text)
returns table (id uuid, status text)
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_ids     uuid[];
  v_orgs    text[];
  v_keys    text[];
  v_done    jsonb;
begin
  select array_agg(v.id) into v_ids from jsonb_to_recordset(items) as v(id uuid);
  v_orgs := jobdeck_private.capped_orgs(v_ids);
  v_keys := jobdeck_private.limit_keys(v_ids);
  perform jobdeck_private.lock_orgs(v_orgs);
  perform jobdeck_private.lock_limits(v_keys);

  with v as (
    select * from jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint, started_at timestamptz, attempt integer,
                                                 outcome text, retryable boolean, result jsonb, error jsonb,
                                                 peak_rss_bytes bigint, cpu_ms bigint, progress integer, step text,
                                                 completed integer, total integer, delay_ms bigint,
                                                 wake_at timestamptz)
  ), cur as materialized (
    -- Row locks in id order (no deadlock with other batches). A row locked here is read as it is
    -- now, after any cancel that committed while we waited; the update below sees the same.
    select j.id, j.status, j.cancel_requested_at, j.max_attempts, j.attempts_before_retry
      from jobdeck.jobs j where j.id = any(v_ids)
       and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
     order by j.id for update
  ), d as (
    select v.*, c.status = 'running' as marked,
           case
             when v.outcome = 'succeeded' then 'succeeded'
             when v.outcome = 'cancelled' then 'cancelled'
             when c.cancel_requested_at is not null then 'cancelled'
             when v.outcome in ('interrupted', 'rate_limited', 'parked') then 'queued'
             when v.outcome = 'error' and v.retryable and v.attempt - c.attempts_before_retry < c.max_attempts then 'retrying'
             else 'failed'
           end as new_status
      from v join cur c on c.id = v.id
  ), upd as (
    update jobdeck.jobs j
       set status = d.new_status,
           result = case when d.new_status = 'succeeded' then d.result else j.result end,
           errors = case when d.error is null then j.errors else j.errors || jsonb_build_array(d.error) end,
           attempts = case when d.new_status = 'queued' then greatest(d.attempt - 1, 0) else d.attempt end,
           worker_id = finish_jobs.worker_id,
           started_at = case when d.marked then j.started_at else d.started_at end,
           finished_at = case when d.new_status in ('succeeded', 'failed', 'cancelled') then now() end,
           progress = case when d.new_status = 'succeeded' then 100
                           else coalesce(d.progress, case when d.marked then j.progress else 0 end) end,
           current_step = coalesce(d.step, case when d.marked then j.current_step end),
           total_steps = coalesce(d.total, case when d.marked then j.total_steps end),
           completed_steps = case when d.new_status = 'succeeded' and coalesce(d.total, case when d.marked then j.total_steps end) is not null
                                  then coalesce(d.total, case when d.marked then j.total_steps end)
                                  else coalesce(d.completed, case when d.marked then j.completed_steps else 0 end) end,
           run_at = case d.new_status
                      when 'retrying' then now() + jobdeck_private.retry_delay(
                        (select t.backoff from jobdeck_private.task_types t where t.type = j.type),
                        d.attempt - j.attempts_before_retry)
                      when 'queued' then case when d.outcome = 'parked' then coalesce(d.wake_at, now())
                                              else now() + coalesce(d.delay_ms, 0) * interval '1 millisecond' end
                      else j.run_at end,
           held_reason = case when d.new_status = 'queued' and d.outcome = 'rate_limited'
                              then 'rate limited by the task, retry at '
                                   || to_char((now() + coalesce(d.delay_ms, 0) * interval '1 millisecond') at time zone 'UTC',
                                              'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') end,
           rate_deferrals = j.rate_deferrals + (d.new_status = 'queued' and d.outcome = 'rate_limited')::integer,
           gw_job_id = case when d.new_status in ('retrying', 'queued') then null else j.gw_job_id end,
           cancel_requested_at = case when d.new_status = 'cancelled' then coalesce(j.cancel_requested_at, now())
                                      else j.cancel_requested_at end,
           eta_at = null, updated_at = now(), heartbeat_at = now(),
           peak_rss_bytes = greatest(d.peak_rss_bytes, case when d.marked then j.peak_rss_bytes end),
           cpu_ms = coalesce(d.cpu_ms, case when d.marked then j.cpu_ms end)
      from d
     -- Rows by primary key only: with a status test a partial index implies (`|| ''` hides it),
     -- the planner, misled by a busy table's stale statistics, walks thousands of waiting rows.
     -- (No `j.id = any(v_ids)` here: next to `j.id = d.id` it made each row's probe search the
     -- whole array.)
     where j.id = d.id
       and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
       and (((j.status || '') = 'running' and j.worker_id = finish_jobs.worker_id and j.attempts = d.attempt)
         or ((j.status || '') in ('queued', 'retrying') and j.held_at is null and j.gw_job_id = d.gw_job_id
             and j.attempts = d.attempt - 1))
    returning j.id, j.status, j.held_reason, j.attempts
  ), rate_events as (
    insert into jobdeck.job_events (job_id, kind, level, message, attempt)
    select upd.id, 'control', 'info', upd.held_reason, upd.attempts + 1
      from upd join d on d.id = upd.id
     where d.outcome = 'rate_limited' and upd.status = 'queued'
  )
  select coalesce(jsonb_agg(jsonb_build_object('id', upd.id, 'status', upd.status)), '[]') into v_done from upd;

  -- A job parked on a wait whose signal committed while it ran (jobdeck.signal found it running)
  -- runs again at once. A statement of its own: it sees signals committed while this one waited
  -- for the row locks.
  if exists (select 1 from jsonb_to_recordset(items) as v(outcome text) where v.outcome = 'parked') then
    update jobdeck.jobs j set run_at = now()
      from jsonb_to_recordset(v_done) as f(id uuid, status text)
     where f.id = j.id and f.status = 'queued' and j.run_at > now()
       and exists (select 1 from jobdeck.job_steps s
                     join jobdeck_private.job_signals g
                       on g.job_id = s.job_id and g.event = s.wait_event and g.consumed_at is null
                    where s.job_id = j.id and s.kind = 'wait' and s.completed_at is null);
  end if;

  -- The next attempt of each requeued job gets a Graphile job of its own, one notch more urgent
  -- (jobdeck_private.requeued_priority: a backlog's fair turns cannot starve it).
  if exists (select 1 from jsonb_to_recordset(v_done) as f(id uuid, status text) where f.status in ('retrying', 'queued')) then
    with gw as (
      select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
        from graphile_worker.add_jobs(array(
          select row(j.type, json_build_object('jobdeckId', j.id), jobdeck_private.graphile_queue(j.queue), j.run_at, 25, null,
                     jobdeck_private.requeued_priority(j.priority), null)::graphile_worker.job_spec
            from jobdeck.jobs j
            join jsonb_to_recordset(v_done) as f(id uuid, status text)
              on f.id = j.id and f.status in ('retrying', 'queued'))) g
    )
    update jobdeck.jobs j set gw_job_id = gw.gw_job_id from gw where j.id = gw.id;
  end if;

  if v_orgs is not null or v_keys is not null then
    perform jobdeck_private.release_held(v_orgs, v_keys);
  end if;
  return query select f.id, f.status from jsonb_to_recordset(v_done) as f(id uuid, status text);
end;
$$;
revoke all on function jobdeck_private.finish_jobs(items jsonb, worker_id text) from public;
