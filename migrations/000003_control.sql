-- jobdeck 000003: job control. Cancel and retry, per-type retry policy, per-organisation
-- concurrency caps, worker heartbeats with crash rescue, key replace/keep, priorities by name, stats.
--
-- Attempts are counted by jobdeck, not Graphile Worker: every attempt of a tracked job runs as its
-- own Graphile job (`{jobdeckId}` payload). A failed attempt that may retry is recorded as
-- `retrying` with the next run time from the type's backoff, a fresh Graphile job is added for it,
-- and the old one is reported to Worker as done. That gives backoff schedules Worker does not
-- have, and keeps a locked Worker job out of every decision.
--
-- Lock order everywhere: organisation advisory locks (sorted) first, then job rows (by id).
--
-- Graphile jobs for tracked jobs get max_attempts 25 whatever the job's own budget: Worker's count
-- only matters when jobdeck could not record an outcome (the wrapper then throws and Worker runs
-- the job again), and that must not strand a job that has attempts left.
-- Errors: JD010 job not found, JD011 the job's state forbids it, JD004 bad argument.

alter table jobdeck.jobs
  -- Queued but held back by a concurrency cap: it has no Graphile job until a slot frees.
  add column held_at timestamptz,
  -- Times this job was retried by hand (retry_job); its earlier attempts stay in `errors`.
  add column manual_retries integer not null default 0;

comment on column jobdeck.jobs.held_at is
  'Set while a queued job waits for its organisation to drop below its concurrency cap.';

-- Running jobs per organisation (caps) and per worker (rescue).
create index jobs_running_org_idx on jobdeck.jobs (org_id, type) where status = 'running';
create index jobs_running_worker_idx on jobdeck.jobs (worker_id) where status = 'running';
create index jobs_held_idx on jobdeck.jobs (org_id, priority, run_at, created_at) where held_at is not null;
-- Stats and the queue-depth read walk unfinished jobs by run time.
create index jobs_waiting_run_at_idx on jobdeck.jobs (run_at) where status in ('queued', 'retrying');

alter table jobdeck.job_events drop constraint kind_is_known;
alter table jobdeck.job_events add constraint kind_is_known check (kind in ('log', 'transition', 'control'));

alter table jobdeck_private.task_types
  -- {"delaysMs": [...], "jitter": 0..1} or {"baseMs", "factor", "maxMs", "jitter"}; null = default.
  add column backoff jsonb,
  add column timeout_ms integer,
  add column cancel_grace_ms integer,
  -- At most this many jobs of this type run at once per organisation.
  add column org_concurrency integer constraint org_concurrency_positive check (org_concurrency >= 1),
  -- Median run time of recent successful jobs, for the ETA before a job reports progress.
  add column median_ms bigint,
  add column stats_at timestamptz;

-- Settings shared by every process (JOBDECK_ORG_CONCURRENCY is written here by workers).
create table jobdeck_private.settings (
  name       text primary key,
  value      jsonb not null,
  updated_at timestamptz not null default now()
);

-- Worker processes: one row each, refreshed every heartbeat; a row gone stale marks a dead process.
create table jobdeck_private.workers (
  id            text primary key,
  -- Graphile Worker's pool id: what its jobs are locked by.
  pool_id       text,
  hostname      text not null,
  pid           integer not null,
  concurrency   integer not null,
  task_types    text[] not null default '{}',
  started_at    timestamptz not null default now(),
  heartbeat_at  timestamptz not null default now(),
  stopping_at   timestamptz,
  rss_bytes     bigint,
  running_jobs  integer not null default 0
);

-- ---------------------------------------------------------------------------------------------
-- Helpers

create function jobdeck_private.org_cap() returns integer
language sql stable as $$
  select nullif((s.value #>> '{}')::integer, 0) from jobdeck_private.settings s where s.name = 'org_concurrency'
$$;

create function jobdeck_private.lock_orgs(org_ids text[]) returns void
language plpgsql volatile as $$
declare
  v_org text;
begin
  for v_org in select distinct o from unnest(org_ids) o where o is not null order by 1 loop
    perform pg_advisory_xact_lock(hashtextextended('jobdeck.org:' || v_org, 0));
  end loop;
end;
$$;

-- Organisations of the given jobs that fall under a cap (global or per type).
create function jobdeck_private.capped_orgs(job_ids uuid[]) returns text[]
language sql stable as $$
  with cap as materialized (select jobdeck_private.org_cap() as n)  -- read once, not per row
  select array_agg(distinct j.org_id order by j.org_id)
    from cap, jobdeck.jobs j left join jobdeck_private.task_types t on t.type = j.type
   where j.id = any(job_ids) and j.org_id is not null
     and (cap.n is not null or t.org_concurrency is not null)
$$;

-- Delay before the next attempt after failed attempt number `attempt` (1-based).
create function jobdeck_private.retry_delay(backoff jsonb, attempt integer) returns interval
language plpgsql volatile as $$
declare
  v_ms     float8;
  v_n      integer;
  v_jitter float8;
begin
  if backoff is not null and backoff ? 'delaysMs' then
    v_n := jsonb_array_length(backoff -> 'delaysMs');
    v_ms := (backoff -> 'delaysMs' ->> (least(greatest(attempt, 1), v_n) - 1))::float8;
    v_jitter := coalesce((backoff ->> 'jitter')::float8, 0);
  else
    v_ms := least(coalesce((backoff ->> 'maxMs')::float8, 3600000),
                  coalesce((backoff ->> 'baseMs')::float8, 2000)
                    * power(coalesce((backoff ->> 'factor')::float8, 2), least(greatest(attempt - 1, 0), 60)));
    v_jitter := coalesce((backoff ->> 'jitter')::float8, 0.2);
  end if;
  v_ms := greatest(0, v_ms * (1 + v_jitter * (2 * random() - 1)));
  return make_interval(secs => v_ms / 1000.0);
end;
$$;

-- Gives held jobs of these organisations a Graphile job while their caps leave room. Counts as
-- busy: running jobs and waiting jobs that already hold a Graphile job due now. Takes the org locks.
create function jobdeck_private.release_held(org_ids text[]) returns integer
language plpgsql volatile as $$
declare
  v_cap integer := jobdeck_private.org_cap();
  v_n   integer;
begin
  if org_ids is null or cardinality(org_ids) = 0 then
    return 0;
  end if;
  perform jobdeck_private.lock_orgs(org_ids);
  with busy as (
    select x.org_id, x.type, count(*) as n
      from jobdeck.jobs x
     where x.org_id = any(org_ids)
       and (x.status = 'running'
            or (x.status in ('queued', 'retrying') and x.gw_job_id is not null and x.held_at is null
                and x.run_at <= now()))
     group by x.org_id, x.type
  ), held as (
    select j.id, j.org_id, j.type, j.queue, j.priority, j.run_at, j.created_at, j.max_attempts,
           t.org_concurrency as type_cap,
           row_number() over (partition by j.org_id, j.type order by j.priority, j.run_at, j.created_at, j.id) as rn_type
      from jobdeck.jobs j left join jobdeck_private.task_types t on t.type = j.type
     where j.held_at is not null and j.org_id = any(org_ids) and j.status in ('queued', 'retrying')
  ), type_ok as (
    select h.*, row_number() over (partition by h.org_id order by h.priority, h.run_at, h.created_at, h.id) as rn_org
      from held h
     where h.type_cap is null
        or coalesce((select b.n from busy b where b.org_id = h.org_id and b.type = h.type), 0) + h.rn_type <= h.type_cap
  ), pick as (
    select o.* from type_ok o
     where v_cap is null
        or coalesce((select sum(b.n) from busy b where b.org_id = o.org_id), 0) + o.rn_org <= v_cap
  ), gw as (
    select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
      from graphile_worker.add_jobs(array(
        select row(p.type, json_build_object('jobdeckId', p.id), p.queue, greatest(p.run_at, now()), 25,
                   null, p.priority, null)::graphile_worker.job_spec
          from pick p)) g
  )
  update jobdeck.jobs j set held_at = null, gw_job_id = gw.gw_job_id, updated_at = now()
    from gw where j.id = gw.id;
  get diagnostics v_n = row_count;
  return v_n;
end;
$$;

-- Inserts a checked job and hands it to Graphile Worker (see the note on max_attempts above).
create or replace function jobdeck_private.insert_job(
  type text, payload jsonb, priority integer, run_at timestamptz, max_attempts integer, key text,
  queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb
) returns jobdeck.jobs
language plpgsql volatile as $$
declare
  v_id   uuid := gen_random_uuid();
  v_gw   bigint;
  v_job  jobdeck.jobs;
begin
  v_gw := (graphile_worker.add_job(
    identifier => insert_job.type,
    payload => json_build_object('jobdeckId', v_id),
    queue_name => insert_job.queue,
    run_at => insert_job.run_at,
    max_attempts => 25,
    priority => insert_job.priority
  )).id;
  insert into jobdeck.jobs as j (id, type, queue, priority, payload, max_attempts, run_at, owner_id, org_id,
                                 related_type, related_id, key, metadata, gw_job_id)
  values (v_id, insert_job.type, insert_job.queue, insert_job.priority, insert_job.payload, insert_job.max_attempts,
          coalesce(insert_job.run_at, now()), insert_job.owner_id, insert_job.org_id, insert_job.related_type,
          insert_job.related_id, insert_job.key, insert_job.metadata, v_gw)
  returning j.* into v_job;
  return v_job;
end;
$$;

-- Safety net run by workers now and then: releases held jobs of every organisation with room
-- (after a cap was raised, or a finish that could not release them).
create function jobdeck_private.release_all_held() returns integer
language sql volatile as $$
  select jobdeck_private.release_held(array(select distinct j.org_id from jobdeck.jobs j where j.held_at is not null))
$$;

-- ---------------------------------------------------------------------------------------------
-- The worker's write path

-- Marks the jobs of a batch of Graphile jobs running, and returns the rows that may run. Jobs
-- Worker runs without a row (cron, plain add_job) get one first. A job is skipped (not returned)
-- when it is finished or cancelled, when this Graphile job is no longer its current one, or when
-- its organisation is at its cap: then it is held, its Graphile job dropped, until a slot frees.
create function jobdeck_private.start_jobs(items jsonb, worker_id text) returns setof jobdeck.jobs
language plpgsql volatile as $$
declare
  v_ids  uuid[];
  v_gws  bigint[];
  v_orgs text[];
  v_cap  integer;
begin
  insert into jobdeck.jobs as j (type, queue, priority, payload, max_attempts, run_at, gw_job_id, metadata)
  select v.type, v.queue, v.priority, coalesce(v.payload, '{}'), v.max_attempts, coalesce(v.run_at, now()),
         v.gw_job_id, jsonb_build_object('source', v.source)
    from jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint, type text, queue text, payload jsonb,
                                        priority integer, max_attempts integer, run_at timestamptz, source text)
   where v.id is null
  on conflict (gw_job_id) where gw_job_id is not null do nothing;

  -- A `running` row is only restarted when its worker is gone (Worker's own 4-hour lock sweep);
  -- while its worker lives, this Worker job is a duplicate and is dropped.
  select array_agg(j.id), array_agg(j.gw_job_id) into v_ids, v_gws
    from jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint)
    join jobdeck.jobs j on j.gw_job_id = v.gw_job_id and (v.id is null or j.id = v.id)
   where j.status in ('queued', 'retrying')
      or (j.status = 'running'
          and not exists (select 1 from jobdeck_private.workers w where w.id = j.worker_id));
  if v_ids is null then
    return;
  end if;

  v_orgs := jobdeck_private.capped_orgs(v_ids);
  if v_orgs is null then
    return query
    update jobdeck.jobs j
       set status = 'running', attempts = j.attempts + 1, worker_id = start_jobs.worker_id, started_at = now(),
           heartbeat_at = now(), updated_at = now(), progress = 0, current_step = null, completed_steps = 0,
           held_at = null, peak_rss_bytes = null, cpu_ms = null, total_steps = null,
           eta_at = now() + (select t.median_ms from jobdeck_private.task_types t where t.type = j.type) * interval '1 millisecond'
     where j.id = any(v_ids) and j.gw_job_id = any(v_gws) and j.status in ('queued', 'retrying', 'running')
    returning j.*;
    return;
  end if;

  perform jobdeck_private.lock_orgs(v_orgs);
  v_cap := jobdeck_private.org_cap();
  return query
  with cand as (
    select j.id, j.org_id, j.type, j.priority, j.run_at, j.created_at, t.org_concurrency as type_cap,
           (j.org_id is not null and (v_cap is not null or t.org_concurrency is not null)) as capped
      from jobdeck.jobs j left join jobdeck_private.task_types t on t.type = j.type
     where j.id = any(v_ids) and j.gw_job_id = any(v_gws) and j.status in ('queued', 'retrying', 'running')
     order by j.id
       for update of j
  ), busy as (
    select x.org_id, x.type, count(*) as n
      from jobdeck.jobs x
     where x.status = 'running' and x.org_id = any(v_orgs) and x.id <> all(v_ids)
     group by x.org_id, x.type
  ), ranked as (
    select c.*, row_number() over (partition by c.org_id, c.type order by c.priority, c.run_at, c.created_at, c.id) as rn_type
      from cand c where c.capped
  ), type_ok as (
    select r.*, row_number() over (partition by r.org_id order by r.priority, r.run_at, r.created_at, r.id) as rn_org
      from ranked r
     where r.type_cap is null
        or coalesce((select b.n from busy b where b.org_id = r.org_id and b.type = r.type), 0) + r.rn_type <= r.type_cap
  ), admitted as (
    select o.id from type_ok o
     where v_cap is null
        or coalesce((select sum(b.n) from busy b where b.org_id = o.org_id), 0) + o.rn_org <= v_cap
  ), held as (
    update jobdeck.jobs j set held_at = now(), gw_job_id = null, updated_at = now()
      from cand c
     where j.id = c.id and c.capped and c.id not in (select a.id from admitted a)
    returning j.id, j.org_id, j.attempts
  ), held_events as (
    insert into jobdeck.job_events (job_id, kind, level, message, attempt)
    select h.id, 'control', 'info', 'held: organisation "' || h.org_id || '" is at its concurrency limit', h.attempts
      from held h
  )
  update jobdeck.jobs j
     set status = 'running', attempts = j.attempts + 1, worker_id = start_jobs.worker_id, started_at = now(),
         heartbeat_at = now(), updated_at = now(), progress = 0, current_step = null, completed_steps = 0,
         held_at = null, peak_rss_bytes = null, cpu_ms = null, total_steps = null,
         eta_at = now() + (select t.median_ms from jobdeck_private.task_types t where t.type = j.type) * interval '1 millisecond'
    from cand c
   where j.id = c.id and (not c.capped or c.id in (select a.id from admitted a))
  returning j.*;
end;
$$;

-- Records the outcome of attempts. `items`: [{id, attempt, outcome, retryable, result, error,
-- peak_rss_bytes, cpu_ms, progress, step, completed, total}] with outcome one of
--   succeeded | error (retrying or failed, by `retryable` and the attempts left) | cancelled |
--   interrupted (worker shutdown: back to queued without spending the attempt).
-- Only this worker's current attempt is touched: a finish from a worker that was declared dead
-- changes nothing. Returns the status each job ended in.
create function jobdeck_private.finish_jobs(items jsonb, worker_id text)
returns table (id uuid, status text)
language plpgsql volatile as $$
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
    select * from jsonb_to_recordset(items) as v(id uuid, attempt integer, outcome text, retryable boolean,
                                                 result jsonb, error jsonb, peak_rss_bytes bigint, cpu_ms bigint,
                                                 progress integer, step text, completed integer, total integer)
  ), upd as (
    update jobdeck.jobs j
       set status = d.status,
           result = case when d.status = 'succeeded' then v.result else j.result end,
           errors = case when v.error is null then j.errors else j.errors || jsonb_build_array(v.error) end,
           attempts = case when d.status = 'queued' then greatest(j.attempts - 1, 0) else j.attempts end,
           finished_at = case when d.status in ('succeeded', 'failed', 'cancelled') then now() end,
           progress = case when d.status = 'succeeded' then 100 else coalesce(v.progress, j.progress) end,
           current_step = coalesce(v.step, j.current_step),
           total_steps = coalesce(v.total, j.total_steps),
           completed_steps = case when d.status = 'succeeded' and coalesce(v.total, j.total_steps) is not null
                                  then coalesce(v.total, j.total_steps)
                                  else coalesce(v.completed, j.completed_steps) end,
           run_at = case d.status
                      when 'retrying' then now() + jobdeck_private.retry_delay(
                        (select t.backoff from jobdeck_private.task_types t where t.type = j.type), j.attempts)
                      when 'queued' then now()
                      else j.run_at end,
           gw_job_id = case when d.status in ('retrying', 'queued') then null else j.gw_job_id end,
           cancel_requested_at = case when d.status = 'cancelled' then coalesce(j.cancel_requested_at, now())
                                      else j.cancel_requested_at end,
           eta_at = null, updated_at = now(), heartbeat_at = now(),
           peak_rss_bytes = greatest(v.peak_rss_bytes, j.peak_rss_bytes),
           cpu_ms = coalesce(v.cpu_ms, j.cpu_ms)
      from v
      cross join lateral (
        select case
          when v.outcome = 'succeeded' then 'succeeded'
          when v.outcome = 'cancelled' then 'cancelled'
          when jj.cancel_requested_at is not null then 'cancelled'
          when v.outcome = 'interrupted' then 'queued'
          when v.outcome = 'error' and v.retryable and jj.attempts < jj.max_attempts then 'retrying'
          else 'failed'
        end as status
        from jobdeck.jobs jj where jj.id = v.id
      ) d
     where j.id = v.id and j.status = 'running' and j.worker_id = finish_jobs.worker_id
       and j.attempts = v.attempt
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
-- Cancel and retry

create function jobdeck.cancel_job(job_id uuid, reason text default null) returns jobdeck.jobs
language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  v_job jobdeck.jobs;
begin
  if job_id is null then
    raise exception 'job id is required' using errcode = 'JD004';
  end if;
  if reason is not null and length(reason) > 1000 then
    raise exception 'cancel reason must be at most 1000 characters, got %', length(reason) using errcode = 'JD004';
  end if;
  -- Lock order: the organisation first (release_held below), then the row.
  perform jobdeck_private.lock_orgs(jobdeck_private.capped_orgs(array[job_id]));
  select * into v_job from jobdeck.jobs j where j.id = cancel_job.job_id for update;
  if not found then
    raise exception 'job % not found', job_id using errcode = 'JD010';
  end if;
  if v_job.status = 'cancelled' then
    return v_job;
  elsif v_job.status in ('succeeded', 'failed') then
    raise exception 'job % is % and cannot be cancelled: only queued, retrying or running jobs can', job_id, v_job.status
      using errcode = 'JD011', detail = json_build_object('status', v_job.status)::text;
  elsif v_job.status = 'running' then
    if v_job.cancel_requested_at is null then
      update jobdeck.jobs j set cancel_requested_at = now(), cancel_reason = reason, updated_at = now()
       where j.id = v_job.id returning j.* into v_job;
      insert into jobdeck.job_events (job_id, kind, level, message, attempt)
      values (v_job.id, 'control', 'info', 'cancel requested' || coalesce(': ' || reason, ''), v_job.attempts);
    end if;
    -- Sent again on a repeated cancel, in case the first was missed (workers also poll).
    perform pg_notify('jobdeck:cancel', json_build_object('id', v_job.id, 'workerId', v_job.worker_id,
                                                         'reason', v_job.cancel_reason)::text);
    return v_job;
  end if;
  -- queued or retrying: out of Graphile Worker's queue now. A Graphile job already fetched by a
  -- worker stays, but that worker finds the job cancelled and skips it.
  if v_job.gw_job_id is not null then
    perform graphile_worker.complete_jobs(array[v_job.gw_job_id]);
  end if;
  update jobdeck.jobs j
     set status = 'cancelled', finished_at = now(), cancel_requested_at = now(), cancel_reason = reason,
         held_at = null, eta_at = null, updated_at = now()
   where j.id = v_job.id returning j.* into v_job;
  if v_job.org_id is not null then
    perform jobdeck_private.release_held(array[v_job.org_id]);
  end if;
  return v_job;
end;
$$;

comment on function jobdeck.cancel_job is
  'Cancel a job: queued/retrying at once, running through its worker (ctx.signal aborts). Errors: JD010 not found, JD011 already finished.';

create function jobdeck.retry_job(job_id uuid) returns jobdeck.jobs
language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  v_job   jobdeck.jobs;
  v_other uuid;
  v_gw    bigint;
begin
  if job_id is null then
    raise exception 'job id is required' using errcode = 'JD004';
  end if;
  select * into v_job from jobdeck.jobs j where j.id = retry_job.job_id for update;
  if not found then
    raise exception 'job % not found', job_id using errcode = 'JD010';
  end if;
  if v_job.status not in ('failed', 'cancelled') then
    raise exception 'job % is % and cannot be retried: only failed or cancelled jobs can', job_id, v_job.status
      using errcode = 'JD011', detail = json_build_object('status', v_job.status)::text;
  end if;
  if v_job.key is not null then
    select j.id into v_other from jobdeck.jobs j
     where j.key = v_job.key and j.status in ('queued', 'running', 'retrying') and j.id <> v_job.id;
    if found then
      raise exception 'job % cannot be retried: job % holds its key "%" and is not finished', job_id, v_other, v_job.key
        using errcode = 'JD011', detail = json_build_object('status', v_job.status)::text;
    end if;
  end if;
  v_gw := (graphile_worker.add_job(
    identifier => v_job.type,
    payload => json_build_object('jobdeckId', v_job.id),
    queue_name => v_job.queue,
    max_attempts => 25,
    priority => v_job.priority
  )).id;
  begin
    update jobdeck.jobs j
       set status = 'queued', attempts = 0, manual_retries = j.manual_retries + 1, run_at = now(),
           finished_at = null, started_at = null, result = null, progress = 0, current_step = null,
           completed_steps = 0, total_steps = null, cancel_requested_at = null, cancel_reason = null,
           held_at = null, eta_at = null, worker_id = null, gw_job_id = v_gw, updated_at = now()
     where j.id = v_job.id returning j.* into v_job;
  exception when unique_violation then
    raise exception 'job % cannot be retried: another unfinished job took its key "%"', job_id, v_job.key
      using errcode = 'JD011', detail = json_build_object('status', v_job.status)::text;
  end;
  insert into jobdeck.job_events (job_id, kind, level, message, attempt)
  values (v_job.id, 'control', 'info', 'retried by hand with a fresh attempt budget', 0);
  return v_job;
end;
$$;

comment on function jobdeck.retry_job is
  'Run a failed or cancelled job again with a fresh attempt budget; earlier errors are kept. Errors: JD010, JD011.';

-- ---------------------------------------------------------------------------------------------
-- Heartbeats and crash rescue

-- One call per worker tick: refreshes the worker's row, samples its running jobs
-- (`jobs`: [{id, rss, cpu_ms}], may be null), and returns those of `running` that must stop:
-- with a cancel request (the polling fallback for a missed notification), or `lost` when the job
-- is no longer this worker's (it was presumed dead and its jobs rescued).
create function jobdeck_private.heartbeat(worker_id text, info jsonb, running uuid[], jobs jsonb)
returns table (id uuid, cancel_reason text, lost boolean)
language plpgsql volatile as $$
begin
  insert into jobdeck_private.workers as w (id, pool_id, hostname, pid, concurrency, task_types, rss_bytes, running_jobs,
                                            stopping_at)
  values (worker_id, info ->> 'poolId', info ->> 'hostname', (info ->> 'pid')::integer,
          (info ->> 'concurrency')::integer,
          coalesce(array(select jsonb_array_elements_text(info -> 'taskTypes')), '{}'),
          (info ->> 'rssBytes')::bigint, coalesce(cardinality(running), 0),
          case when (info ->> 'stopping')::boolean then now() end)
  on conflict on constraint workers_pkey do update
     set pool_id = excluded.pool_id, heartbeat_at = now(), rss_bytes = excluded.rss_bytes,
         running_jobs = excluded.running_jobs, stopping_at = coalesce(w.stopping_at, excluded.stopping_at);

  if jobs is not null then
    update jobdeck.jobs j
       set peak_rss_bytes = greatest(j.peak_rss_bytes, v.rss), cpu_ms = v.cpu_ms, heartbeat_at = now()
      from jsonb_to_recordset(jobs) as v(id uuid, rss bigint, cpu_ms bigint)
     where j.id = v.id and j.status = 'running' and j.worker_id = heartbeat.worker_id;
  end if;

  return query
  select r.id, j.cancel_reason,
         (j.id is null or j.status <> 'running' or j.worker_id is distinct from heartbeat.worker_id) as lost
    from unnest(running) as r(id)
    left join jobdeck.jobs j on j.id = r.id
   where j.id is null or j.status <> 'running' or j.worker_id is distinct from heartbeat.worker_id
      or j.cancel_requested_at is not null;
end;
$$;

-- Releases the jobs of workers whose heartbeat is older than `stale_after`: Graphile Worker's locks
-- are forced open, each interrupted attempt is recorded, and the job runs again (or fails, when it
-- has no attempts left). One rescuer per dead worker (SKIP LOCKED). Returns the rescued jobs.
create function jobdeck_private.rescue_workers(stale_after interval, rescuer text)
returns table (id uuid, status text, worker_id text)
language plpgsql volatile as $$
declare
  v_workers text[];
  v_pools   text[];
  v_gw      bigint[];
  v_orgs    text[];
  v_old_gw  bigint[];
  v_done    jsonb;
begin
  select array_agg(w.id), array_agg(w.pool_id) filter (where w.pool_id is not null)
    into v_workers, v_pools
    from (select w.id, w.pool_id from jobdeck_private.workers w
           where w.heartbeat_at < now() - stale_after and w.id <> rescuer
             for update skip locked) w;
  if v_workers is null then
    return;
  end if;

  v_orgs := jobdeck_private.capped_orgs(array(
    select j.id from jobdeck.jobs j where j.status = 'running' and j.worker_id = any(v_workers)));
  perform jobdeck_private.lock_orgs(v_orgs);

  if v_pools is not null then
    select array_agg(g.id) into v_gw from graphile_worker.jobs g where g.locked_by = any(v_pools);
    perform graphile_worker.force_unlock_workers(v_pools);
    -- Worker counted an attempt for each job it handed them; jobdeck counts its own.
    if v_gw is not null then
      perform graphile_worker.reschedule_jobs(v_gw, attempts => 0);
    end if;
  end if;

  with r as (
    update jobdeck.jobs j
       set status = case when j.cancel_requested_at is not null then 'cancelled'
                         when j.attempts < j.max_attempts then 'retrying' else 'failed' end,
           finished_at = case when j.cancel_requested_at is null and j.attempts < j.max_attempts then null
                              else now() end,
           errors = j.errors || jsonb_build_array(jsonb_build_object(
             'at', now(), 'attempt', j.attempts, 'name', 'WorkerLostError',
             'message', format('worker %s stopped heartbeating (last seen %s); the attempt was interrupted',
                               j.worker_id, (select w.heartbeat_at from jobdeck_private.workers w where w.id = j.worker_id)),
             'stack', null, 'permanent', false, 'interrupted', true)),
           run_at = now(), eta_at = null, updated_at = now()
     where j.status = 'running' and j.worker_id = any(v_workers)
    returning j.id, j.status, j.worker_id, j.gw_job_id
  )
  select coalesce(jsonb_agg(to_jsonb(r)), '[]') into v_done from r;

  -- The interrupted attempts' Worker jobs go (a stalled worker that wakes up cannot complete the
  -- next attempt's job by id); retrying jobs get a fresh one, as after any failed attempt.
  select array_agg(r.gw_job_id) into v_old_gw
    from jsonb_to_recordset(v_done) as r(id uuid, status text, worker_id text, gw_job_id bigint)
   where r.gw_job_id is not null;
  if v_old_gw is not null then
    perform graphile_worker.complete_jobs(v_old_gw);
  end if;
  with gw as (
    select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
      from graphile_worker.add_jobs(array(
        select row(j.type, json_build_object('jobdeckId', j.id), j.queue, j.run_at, 25, null, j.priority,
                   null)::graphile_worker.job_spec
          from jobdeck.jobs j
          join jsonb_to_recordset(v_done) as r(id uuid, status text) on r.id = j.id and r.status = 'retrying')) g
  )
  update jobdeck.jobs j set gw_job_id = gw.gw_job_id from gw where j.id = gw.id;
  delete from jobdeck_private.workers w where w.id = any(v_workers);
  if v_orgs is not null then
    perform jobdeck_private.release_held(v_orgs);
  end if;
  return query select r.id, r.status, r.worker_id
    from jsonb_to_recordset(v_done) as r(id uuid, status text, worker_id text);
end;
$$;

-- Refreshes each type's median run time from its latest successful jobs (for the ETA fallback).
create function jobdeck_private.refresh_type_stats() returns void
language sql volatile as $$
  update jobdeck_private.task_types t
     set median_ms = s.median_ms, stats_at = now()
    from (
      select tt.type,
             (select percentile_cont(0.5) within group (order by extract(epoch from (r.finished_at - r.started_at)) * 1000)
                from (select j.finished_at, j.started_at from jobdeck.jobs j
                       where j.type = tt.type and j.status = 'succeeded' and j.started_at is not null
                       order by j.created_at desc limit 200) r)::bigint as median_ms
        from jobdeck_private.task_types tt
    ) s
   where s.type = t.type and s.median_ms is distinct from t.median_ms
$$;

-- ---------------------------------------------------------------------------------------------
-- Enqueue: priorities by name, keys with keep or replace

create function jobdeck.priority(name text) returns integer
language plpgsql immutable as $$
begin
  return case lower(trim(name))
    when 'urgent' then -20 when 'high' then -10 when 'normal' then 0 when 'low' then 10
    else null end;
end;
$$;

comment on function jobdeck.priority is
  'Priority by name (lower runs first): urgent -20, high -10, normal 0, low 10; null for an unknown name.';

-- Adds a keyed job. keep: an unfinished job with the key is returned as it is. replace: a waiting
-- job with the key takes the new payload and options; a running one keeps running, loses the key,
-- and the new job is added behind it.
create function jobdeck_private.add_keyed_job(
  type text, payload jsonb, priority integer, run_at timestamptz, max_attempts integer, key text, key_mode text,
  queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb
) returns jobdeck.jobs
language plpgsql volatile as $$
declare
  v_job  jobdeck.jobs;
  v_try  integer := 0;
begin
  loop
    v_try := v_try + 1;
    select * into v_job from jobdeck.jobs j
     where j.key = add_keyed_job.key and j.status in ('queued', 'running', 'retrying') for update;
    if found then
      if key_mode = 'keep' then
        return v_job;
      end if;
      if v_job.type <> add_keyed_job.type then
        raise exception 'key "%" is held by job % of type "%", not "%"', key, v_job.id, v_job.type, type
          using errcode = 'JD004';
      end if;
      if v_job.status = 'running' then
        update jobdeck.jobs j set key = null, updated_at = now() where j.id = v_job.id;
        insert into jobdeck.job_events (job_id, kind, level, message, attempt)
        values (v_job.id, 'control', 'info', 'key "' || key || '" passed to a newer job (replace)', v_job.attempts);
      else
        update jobdeck.jobs j
           set payload = add_keyed_job.payload, priority = add_keyed_job.priority,
               run_at = coalesce(add_keyed_job.run_at, now()), max_attempts = add_keyed_job.max_attempts,
               owner_id = add_keyed_job.owner_id, org_id = add_keyed_job.org_id,
               related_type = add_keyed_job.related_type, related_id = add_keyed_job.related_id,
               metadata = add_keyed_job.metadata, updated_at = now()
         where j.id = v_job.id returning j.* into v_job;
        if v_job.gw_job_id is not null then
          perform graphile_worker.reschedule_jobs(array[v_job.gw_job_id], run_at => v_job.run_at,
                                                  priority => v_job.priority);
        elsif v_job.held_at is not null then
          -- Held by a cap: with its new organisation and options it goes through admission again.
          update jobdeck.jobs j
             set held_at = null,
                 gw_job_id = (graphile_worker.add_job(identifier => v_job.type,
                                payload => json_build_object('jobdeckId', v_job.id), queue_name => v_job.queue,
                                run_at => v_job.run_at, max_attempts => 25, priority => v_job.priority)).id
           where j.id = v_job.id returning j.* into v_job;
        end if;
        insert into jobdeck.job_events (job_id, kind, level, message, attempt)
        values (v_job.id, 'control', 'info', 'replaced by a newer enqueue with key "' || key || '"', v_job.attempts);
        return v_job;
      end if;
    end if;
    begin
      return jobdeck_private.insert_job(type, payload, priority, run_at, max_attempts, key, queue, owner_id,
                                        org_id, related_type, related_id, metadata);
    exception when unique_violation then
      if v_try >= 3 then
        raise;
      end if;
      -- a concurrent enqueue took the key: go round again and apply keep/replace to its job
    end;
  end loop;
end;
$$;

drop function jobdeck.enqueue(text, jsonb, integer, timestamptz, integer, text, text, text, text, text, text, jsonb);

create function jobdeck.enqueue(
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
  key_mode text default 'keep'
) returns jobdeck.jobs
language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  v_max integer;
begin
  v_max := jobdeck_private.check_job_spec(null, type, payload, priority, run_at, max_attempts, key, queue, metadata);
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

comment on function jobdeck.enqueue is
  'Enqueue a tracked job in the current transaction. key_mode keep|replace. Errors: JD001 unknown type, JD002 invalid payload, JD003 payload too large, JD004 bad option.';

-- Bulk enqueue, now with keyMode per spec.
create or replace function jobdeck.enqueue_many(specs jsonb) returns setof jobdeck.jobs
language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  v_spec  jsonb;
  v_i     integer := 0;
  v_max   integer[] := '{}';
  v_int   jsonb;
  v_keyed boolean := false;
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
  ), gw as (
    select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
      from graphile_worker.add_jobs(array(
        select row(s.type, json_build_object('jobdeckId', s.id), s.queue, s.run_at, 25, null,
                   s.priority, null)::graphile_worker.job_spec
          from s order by s.ord)) as g
  ), ins as (
    insert into jobdeck.jobs as j (id, type, queue, priority, payload, max_attempts, run_at, owner_id, org_id,
                                   related_type, related_id, metadata, gw_job_id)
    select s.id, s.type, s.queue, s.priority, s.payload, s.max_attempts, coalesce(s.run_at, now()), s.owner_id,
           s.org_id, s.related_type, s.related_id, s.metadata, gw.gw_job_id
      from s join gw on gw.id = s.id
    returning j.*
  )
  select ins.* from ins join s on s.id = ins.id order by s.ord;
end;
$$;

-- Announce held/released jobs too (the dashboard shows "waiting for a slot").
create or replace function jobdeck_private.tg_jobs__after_update() returns trigger
language plpgsql as $$
begin
  perform pg_notify(jobdeck.channel_name(c.kind, c.id), r.message)
  from (
    select n.id, n.owner_id, n.org_id,
           jsonb_build_object('id', n.id, 'status', n.status, 'progress', n.progress)::text as message
    from new_rows n join old_rows o on o.id = n.id
    where (n.status, n.progress, n.current_step, n.completed_steps, n.total_steps, n.attempts, n.cancel_requested_at,
           n.held_at is null, n.run_at)
      is distinct from
          (o.status, o.progress, o.current_step, o.completed_steps, o.total_steps, o.attempts, o.cancel_requested_at,
           o.held_at is null, o.run_at)
  ) r
  cross join lateral (values ('job', r.id::text), ('owner', r.owner_id), ('org', r.org_id)) as c(kind, id)
  where c.id is not null;

  insert into jobdeck.job_events (job_id, kind, level, message, data, attempt)
  select n.id, 'transition',
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
         jsonb_build_object('from', o.status, 'to', n.status) ||
           case when n.status = 'retrying' then jsonb_build_object('runAt', n.run_at) else '{}' end,
         n.attempts
  from new_rows n join old_rows o on o.id = n.id
  where n.status is distinct from o.status
     or (n.status = 'running' and n.attempts is distinct from o.attempts);
  return null;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Stats: one read for the CLI, the API and the dashboard.
--
-- Unfinished jobs are counted as they are now; finished ones (and durations, failures,
-- throughput) over the window since `since`. Throughput is bucketed by minute, or wider for long
-- windows so there are at most 1440 buckets.
create function jobdeck.job_stats(since timestamptz default now() - interval '24 hours', type text default null)
returns jsonb
language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp as $$
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
    select j.type, j.status, j.run_at, j.created_at, j.held_at
      from jobdeck.jobs j
     where j.status in ('queued', 'running', 'retrying') and (job_stats.type is null or j.type = job_stats.type)
  ), done as (
    select j.type, j.status, j.started_at, j.finished_at,
           extract(epoch from (j.finished_at - j.started_at)) * 1000 as ms
      from jobdeck.jobs j
     where j.status in ('succeeded', 'failed', 'cancelled') and j.finished_at >= since
       and (job_stats.type is null or j.type = job_stats.type)
  ), types as (
    select t.type from active t union select d.type from done d
  ), per_type as (
    select t.type,
           jsonb_build_object(
             'type', t.type,
             'queued', (select count(*) from active a where a.type = t.type and a.status = 'queued'),
             'running', (select count(*) from active a where a.type = t.type and a.status = 'running'),
             'retrying', (select count(*) from active a where a.type = t.type and a.status = 'retrying'),
             'succeeded', (select count(*) from done d where d.type = t.type and d.status = 'succeeded'),
             'failed', (select count(*) from done d where d.type = t.type and d.status = 'failed'),
             'cancelled', (select count(*) from done d where d.type = t.type and d.status = 'cancelled'),
             'p50Ms', (select round(percentile_cont(0.5) within group (order by d.ms))
                         from done d where d.type = t.type and d.status = 'succeeded' and d.started_at is not null),
             'p95Ms', (select round(percentile_cont(0.95) within group (order by d.ms))
                         from done d where d.type = t.type and d.status = 'succeeded' and d.started_at is not null),
             'lastFailureAt', (select max(d.finished_at) from done d where d.type = t.type and d.status = 'failed')
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
      'oldestReadyAgeMs', (select round(extract(epoch from now() - min(greatest(a.run_at, a.created_at))) * 1000)
                             from active a where a.status in ('queued', 'retrying') and a.run_at <= now())),
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
  'Counts by status and type, queue depth, oldest ready age, p50/p95 durations, failures and throughput since `since`.';
