-- jobdeck_private.start_jobs(items, worker_id): marks a batch of Graphile jobs' rows running.
-- requires: concurrency/capped_orgs.sql concurrency/lock_orgs.sql concurrency/limit_keys.sql
-- requires: concurrency/lock_limits.sql concurrency/admit_jobs.sql
-- requires: worker/estimate_eta.sql
-- requires: concurrency/admit_keyed.sql concurrency/graphile_queue.sql rate/rate_limited.sql rate/admit_rated.sql
-- requires: pauses/paused_job_ids.sql worker/requeued_priority.sql
--
-- Returns the rows that may run. Jobs Worker runs without a row (cron, plain add_job) get one
-- first. A job is skipped (not returned) when it is finished or cancelled, when this Graphile job
-- is no longer its current one, or when a cap keeps it back (its organisation's, its type's or
-- its queue's; admit_jobs) or a pause: then it is held, its Graphile job dropped, with a `held:` (or
-- `paused:`) event and held_reason saying why, until a slot frees (or the pause ends). Then the
-- per-key limits (admit_keyed) hold jobs the same way. A job a rate limit refuses (admit_rated) is
-- not held: it gets a Graphile job at the time its turn comes, keeps its status and attempts, and
-- says why in held_reason (a `rate limited:` event the first time). With no cap, limit or pause
-- anywhere (capped_orgs, limit_keys and paused_job_ids null, rate_limited false) it marks the rows
-- at once, without a lock. The slow path of begin_jobs.
--
-- plan_cache_mode: its statements are planned once per connection (migration 000007,
-- docs/performance.md); no plan depends on a parameter's value.

create or replace function jobdeck_private.start_jobs(items jsonb, worker_id text) returns setof jobdeck.jobs
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_ids  uuid[];
  v_gws  bigint[];
  v_orgs text[];
  v_keys text[];
  v_rate boolean;
  v_ok      uuid[];
  v_held    uuid[];
  v_reasons text[];
  v_def     uuid[];
  v_def_at  timestamptz[];
  v_wake_at timestamptz[];
  v_ahead   uuid[];
  v_ahead_at timestamptz[];
  v_first   boolean[];
begin
  insert into jobdeck.jobs as j (type, queue, priority, payload, max_attempts, run_at, gw_job_id, metadata)
  select v.type, v.queue, v.priority, coalesce(v.payload, '{}'), v.max_attempts, coalesce(v.run_at, now()),
         v.gw_job_id, jsonb_build_object('source', v.source)
    from jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint, type text, queue text, payload jsonb,
                                        priority integer, max_attempts integer, run_at timestamptz, source text)
   where v.id is null
  on conflict (gw_job_id, purge_on) where gw_job_id is not null do nothing;  -- purge_on: in the unique index since 000024

  -- A `running` row is only restarted when its worker is gone (Worker's own 4-hour lock sweep);
  -- while its worker lives, this Worker job is a duplicate and is dropped.
  select array_agg(j.id), array_agg(j.gw_job_id) into v_ids, v_gws
    from jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint)
    join jobdeck.jobs j on j.gw_job_id = v.gw_job_id and (v.id is null or j.id = v.id)
     and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
   where j.status in ('queued', 'retrying')
      or (j.status = 'running'
          and not exists (select 1 from jobdeck_private.workers w where w.id = j.worker_id));
  if v_ids is null then
    return;
  end if;

  v_orgs := jobdeck_private.capped_orgs(v_ids);
  v_keys := jobdeck_private.limit_keys(v_ids);
  v_rate := jobdeck_private.rate_limited(v_ids);
  if v_orgs is null and v_keys is null and not v_rate and jobdeck_private.paused_job_ids(v_ids) is null then
    return query
    update jobdeck.jobs j
       set status = 'running', attempts = j.attempts + 1, worker_id = start_jobs.worker_id, started_at = now(),
           heartbeat_at = now(), updated_at = now(), progress = 0, current_step = null, completed_steps = 0,
           held_at = null, held_reason = null, peak_rss_bytes = null, cpu_ms = null, total_steps = null,
           eta_at = jobdeck_private.estimate_eta(now(), 0,
             (select t.median_ms from jobdeck_private.task_types t where t.type = j.type))
     where j.id = any(v_ids) and j.gw_job_id = any(v_gws) and j.status in ('queued', 'retrying', 'running')
       and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
    returning j.*;
    return;
  end if;

  -- Lock order: organisations, limits, then the rows (by id).
  perform jobdeck_private.lock_orgs(v_orgs);
  perform jobdeck_private.lock_limits(v_keys);
  select array_agg(c.id) into v_ids
    from (select j.id from jobdeck.jobs j
           where j.id = any(v_ids) and j.gw_job_id = any(v_gws) and j.status in ('queued', 'retrying', 'running')
             and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
           order by j.id
             for update of j) c;
  if v_ids is null then
    return;
  end if;
  -- Each step below runs only when it has rows to write: an UPDATE of jobdeck.jobs fires its
  -- statement triggers (transition tables, NOTIFY) even for no row, and add_jobs costs
  -- milliseconds even for an empty array (docs/performance.md, "What a configured limit costs").
  select array_agg(a.id) filter (where a.admitted),
         array_agg(a.id) filter (where not a.admitted), array_agg(a.reason) filter (where not a.admitted)
    into v_ok, v_held, v_reasons
    from jobdeck_private.admit_jobs(v_ids, false) a;
  if v_ok is not null and exists (select 1 from unnest(v_keys) k where k like 'key:%') then
    -- per-key concurrency limits, on the jobs the caps let through
    select array_agg(k.id) filter (where k.admitted),
           v_held || array_agg(k.id) filter (where not k.admitted),
           v_reasons || array_agg(k.reason) filter (where not k.admitted)
      into v_ok, v_held, v_reasons
      from jobdeck_private.admit_keyed(v_ok, false) k;
  end if;
  if v_held is not null then
    with held as (
      update jobdeck.jobs j set held_at = now(), held_reason = u.reason, gw_job_id = null, updated_at = now()
        from unnest(v_held, v_reasons) as u(id, reason)
       where j.id = u.id
      returning j.id, j.attempts, u.reason
    )
    insert into jobdeck.job_events (job_id, kind, level, message, attempt)
    select h.id, 'control', 'info', h.reason, h.attempts
      from held h;
  end if;

  if v_rate and v_ok is not null then
    -- rate limits, on the jobs every concurrency limit let through (sql/rate/admit_rated.sql)
    select array_agg(r.id) filter (where r.admitted),
           array_agg(r.id) filter (where r.admitted and r.start_at is not null),
           array_agg(r.start_at) filter (where r.admitted and r.start_at is not null),
           array_agg(r.id) filter (where not r.admitted),
           array_agg(r.next_at) filter (where not r.admitted), array_agg(r.wake_at) filter (where not r.admitted),
           array_agg(r.reason) filter (where not r.admitted), array_agg(r.first_wait) filter (where not r.admitted)
      into v_ok, v_ahead, v_ahead_at, v_def, v_def_at, v_wake_at, v_reasons, v_first
      from jobdeck_private.admit_rated(v_ok) r;
    if v_def is not null then
      with r as (
        select * from unnest(v_def, v_def_at, v_wake_at, v_reasons, v_first) as u(id, next_at, wake_at, reason, first_wait)
      ), rate_gw as (
        select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
          from graphile_worker.add_jobs(array(
            select row(j.type, json_build_object('jobdeckId', j.id), jobdeck_private.graphile_queue(j.queue),
                       -- one notch more urgent in Graphile Worker's order (the row keeps its priority):
                       -- Graphile takes it once due, ahead of same-priority jobs whose fair turns lie in
                       -- the past, instead of waiting behind a whole backlog for its slot
                       r.wake_at, 25, null, jobdeck_private.requeued_priority(j.priority), null)::graphile_worker.job_spec
              from r join jobdeck.jobs j on j.id = r.id)) g
      ), deferred as (
        update jobdeck.jobs j set gw_job_id = g.gw_job_id, run_at = r.next_at, held_reason = r.reason, updated_at = now()
          from rate_gw g join r on r.id = g.id
         where j.id = g.id
        returning j.id, j.attempts, r.reason, r.first_wait
      )
      insert into jobdeck.job_events (job_id, kind, level, message, attempt)
      select d.id, 'control', 'info', d.reason, d.attempts
        from deferred d
       where d.first_wait;
    end if;
  end if;

  if v_ok is not null then
    return query
    update jobdeck.jobs j
       set status = 'running', attempts = j.attempts + 1, worker_id = start_jobs.worker_id,
           -- a job a rate limit admitted ahead of its slot starts at the slot (the worker waits
           -- for it: started_at - updated_at, src/worker/wrap-task.ts)
           started_at = coalesce((select a.at from unnest(v_ahead, v_ahead_at) as a(id, at) where a.id = j.id), now()),
           heartbeat_at = now(), updated_at = now(), progress = 0, current_step = null, completed_steps = 0,
           held_at = null, held_reason = null, peak_rss_bytes = null, cpu_ms = null, total_steps = null,
           eta_at = jobdeck_private.estimate_eta(now(), 0,
             (select t.median_ms from jobdeck_private.task_types t where t.type = j.type))
     where j.id = any(v_ok)
    returning j.*;
  end if;
end;
$$;
revoke all on function jobdeck_private.start_jobs(items jsonb, worker_id text) from public;
