-- jobdeck.job_stats(since, type): one read of the numbers for the CLI, the API and the dashboard.
-- requires: api/wait_reason.sql api/queue_flow.sql
--
-- Unfinished jobs are counted as they are now; finished ones (and durations, failures,
-- throughput) over the window since `since`. Throughput is bucketed by minute, or wider for long
-- windows so there are at most 1440 buckets. Resource usage per type (peak memory, CPU time) is
-- over the finished jobs of the window that were measured, and `limitFailures` counts the failed
-- ones whose last attempt went over a task type's `limits` (ResourceLimitError). `paused` counts the
-- waiting jobs a pause holds (held_reason `paused: …`; sql/pauses/), within `held`. `waiting` counts
-- the jobs a limit keeps back, by reason (concurrencyLimit, rateLimit; paused ones are not among
-- them), and the jobs in status `waiting` (for their dependencies); per type and per queue,
-- `heldBy` counts the jobs kept back by each reason (jobdeck.wait_reason).
--
-- SECURITY INVOKER (since migration 000004): the caller's row-level security scopes the stats to
-- what the caller may see; trusted callers still see every job.

create or replace function jobdeck.job_stats(since timestamptz default now() - interval '24 hours', type text default null)
returns jsonb
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_bucket integer;
  v_result jsonb;
begin
  if since is null or not isfinite(since) then
    raise exception 'since must be a finite time' using errcode = 'JD004';
  end if;
  if since > now() then
    raise exception 'since must be in the past, got %', since using errcode = 'JD004';
  end if;
  v_bucket := greatest(60, ceil(extract(epoch from now() - since) / 1440 / 60)::integer * 60);

  with active as (
    select j.type, j.queue, j.status, j.run_at, j.created_at, j.held_at, j.held_reason,
           coalesce(j.held_at is not null and j.held_reason like 'paused:%', false) as paused,
           case when j.status in ('queued', 'retrying') then jobdeck.wait_reason(j.held_at, j.held_reason) end as wait
      from jobdeck.jobs j
     where j.status in ('waiting', 'queued', 'running', 'retrying') and (job_stats.type is null or j.type = job_stats.type)
  ), done as (
    select j.type, j.status, j.started_at, j.finished_at,
           extract(epoch from (j.finished_at - j.started_at)) * 1000 as ms,
           j.peak_rss_bytes, j.cpu_ms, j.errors -> -1 ->> 'name' as last_error
      from jobdeck.jobs j
     where j.status in ('succeeded', 'failed', 'cancelled') and j.finished_at >= since
       and (job_stats.type is null or j.type = job_stats.type)
  ), types as (
    select t.type from active t union select d.type from done d
  ), waits as (
    -- waiting jobs kept back, by reason (jobdeck.wait_reason), type and queue
    select a.type, a.queue, a.wait, count(*) as n from active a where a.wait is not null group by 1, 2, 3
  ), queues as (
    select a.queue, count(*) filter (where a.status = 'queued') as queued,
           count(*) filter (where a.status = 'running') as running,
           count(*) filter (where a.status = 'retrying') as retrying
      from active a group by 1
  ), per_type as (
    select t.type,
           jsonb_build_object(
             'type', t.type,
             'waiting', (select count(*) from active a where a.type = t.type and a.status = 'waiting'),
             'queued', (select count(*) from active a where a.type = t.type and a.status = 'queued'),
             'running', (select count(*) from active a where a.type = t.type and a.status = 'running'),
             'retrying', (select count(*) from active a where a.type = t.type and a.status = 'retrying'),
             'paused', (select count(*) from active a where a.type = t.type and a.paused),
             'heldBy', (select coalesce(jsonb_object_agg(w.wait, w.n), '{}')
                          from (select w.wait, sum(w.n) as n from waits w where w.type = t.type group by 1) w),
             'succeeded', (select count(*) from done d where d.type = t.type and d.status = 'succeeded'),
             'failed', (select count(*) from done d where d.type = t.type and d.status = 'failed'),
             'cancelled', (select count(*) from done d where d.type = t.type and d.status = 'cancelled'),
             'p50Ms', (select round(percentile_cont(0.5) within group (order by d.ms))
                         from done d where d.type = t.type and d.status = 'succeeded' and d.started_at is not null),
             'p95Ms', (select round(percentile_cont(0.95) within group (order by d.ms))
                         from done d where d.type = t.type and d.status = 'succeeded' and d.started_at is not null),
             'lastFailureAt', (select max(d.finished_at) from done d where d.type = t.type and d.status = 'failed'),
             'peakRssMbAvg', (select round(avg(d.peak_rss_bytes) / 1048576) from done d where d.type = t.type),
             'peakRssMbMax', (select round(max(d.peak_rss_bytes) / 1048576.0) from done d where d.type = t.type),
             'cpuMsAvg', (select round(avg(d.cpu_ms)) from done d where d.type = t.type),
             'cpuMsMax', (select max(d.cpu_ms) from done d where d.type = t.type),
             'limitFailures', (select count(*) from done d where d.type = t.type and d.status = 'failed'
                                 and d.last_error = 'ResourceLimitError')
           ) as doc
      from types t
  ), buckets as (
    select to_timestamp(floor(extract(epoch from d.finished_at) / v_bucket) * v_bucket) as at,
           count(*) filter (where d.status = 'succeeded') as succeeded,
           count(*) filter (where d.status = 'failed') as failed,
           count(*) filter (where d.status = 'cancelled') as cancelled
      from done d group by 1
  )
  select jsonb_build_object(
    'since', since,
    'at', now(),
    'type', job_stats.type,
    'byStatus', jsonb_build_object(
      'waiting', (select count(*) from active a where a.status = 'waiting'),
      'queued', (select count(*) from active a where a.status = 'queued'),
      'running', (select count(*) from active a where a.status = 'running'),
      'retrying', (select count(*) from active a where a.status = 'retrying'),
      'succeeded', (select count(*) from done d where d.status = 'succeeded'),
      'failed', (select count(*) from done d where d.status = 'failed'),
      'cancelled', (select count(*) from done d where d.status = 'cancelled')),
    'queue', jsonb_build_object(
      'depth', (select count(*) from active a where a.status in ('queued', 'retrying')),
      'ready', (select count(*) from active a where a.status in ('queued', 'retrying') and a.run_at <= now() and a.held_at is null),
      'scheduled', (select count(*) from active a where a.status in ('queued', 'retrying') and a.run_at > now()),
      'held', (select count(*) from active a where a.held_at is not null),
      'paused', (select count(*) from active a where a.paused),
      'oldestReadyAgeMs', (select round(extract(epoch from now() - min(greatest(a.run_at, a.created_at))) * 1000)
                             from active a where a.status in ('queued', 'retrying') and a.run_at <= now())),
    -- waiting jobs held back by a limit, by reason (issue 20): a concurrency limit holds them
    -- (held_at), a rate limit (or their task's "rate limited") put them back until later; and
    -- the jobs waiting for their dependencies (issue 21)
    'waiting', jsonb_build_object(
      'dependencies', (select count(*) from active a where a.status = 'waiting'),
      'concurrencyLimit', (select count(*) from active a where a.held_at is not null and not a.paused),
      'rateLimit', (select count(*) from active a where a.status in ('queued', 'retrying') and a.held_at is null
                      and a.held_reason like 'rate limited%'),
      'byReason', (select coalesce(jsonb_object_agg(w.wait, w.n), '{}')
                     from (select w.wait, sum(w.n) as n from waits w group by 1) w)),
    -- per queue (null: the default queue): its jobs, why its waiting ones wait, and its settings
    'byQueue', coalesce((
      select jsonb_agg(jsonb_build_object(
               'queue', q.queue, 'queued', q.queued, 'running', q.running, 'retrying', q.retrying,
               'heldBy', (select coalesce(jsonb_object_agg(w.wait, w.n), '{}')
                            from (select w.wait, sum(w.n) as n from waits w
                                   where w.queue is not distinct from q.queue group by 1) w))
               || coalesce(f.flow -> q.queue,
                           '{"concurrencyLimit": null, "rateLimit": null, "fairness": null, "paused": null}')
               order by q.queue nulls first)
        from queues q
       cross join (select jobdeck.queue_flow(array_agg(q2.queue)) as flow from queues q2) f), '[]'),
    'byType', coalesce((select jsonb_agg(p.doc order by p.type) from per_type p), '[]'),
    'throughput', jsonb_build_object(
      'bucketSeconds', v_bucket,
      'perMinute', round((select count(*) from done d)::numeric
                         / greatest(extract(epoch from now() - since) / 60, 1), 2),
      'series', coalesce((select jsonb_agg(jsonb_build_object('at', b.at, 'succeeded', b.succeeded, 'failed', b.failed,
                                                              'cancelled', b.cancelled) order by b.at)
                            from buckets b), '[]'))
  ) into v_result;
  return v_result;
end;
$$;
comment on function jobdeck.job_stats is
  'Counts by status and type, queue depth, oldest ready age, p50/p95 durations, per-type peak memory and CPU time, failures and throughput since `since`.';
revoke all on function jobdeck.job_stats(since timestamp with time zone, type text) from public;
grant execute on function jobdeck.job_stats(since timestamp with time zone, type text) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
