-- jobdeck_private.rescue_workers(stale_after, rescuer): rescues the jobs of workers gone silent.
-- requires: concurrency/capped_orgs.sql concurrency/lock_orgs.sql concurrency/release_held.sql
-- requires: concurrency/limit_keys.sql concurrency/lock_limits.sql concurrency/graphile_queue.sql
-- requires: worker/requeued_priority.sql start/forget_start_data.sql
--
-- Releases the jobs of workers whose heartbeat is older than `stale_after`: Graphile Worker's
-- locks are forced open, each interrupted attempt is recorded, and the job runs again (or fails,
-- when it has no attempts left). One rescuer per dead worker (SKIP LOCKED). Returns the rescued
-- jobs.

create or replace function jobdeck_private.rescue_workers(stale_after interval, rescuer text)
returns table (id uuid, status text, worker_id text)
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_workers text[];
  v_pools   text[];
  v_gw      bigint[];
  v_orgs    text[];
  v_keys    text[];
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
  v_keys := jobdeck_private.limit_keys(array(
    select j.id from jobdeck.jobs j where j.status = 'running' and j.worker_id = any(v_workers)));
  perform jobdeck_private.lock_orgs(v_orgs);
  perform jobdeck_private.lock_limits(v_keys);

  if v_pools is not null then
    select array_agg(g.id) into v_gw from graphile_worker.jobs g where g.locked_by = any(v_pools);
    perform graphile_worker.force_unlock_workers(v_pools);
    -- Worker counted an attempt for each job it handed them; jobdeck counts its own.
    if v_gw is not null then
      perform graphile_worker.reschedule_jobs(v_gw, attempts => 0);
      -- Fetched again as first fetches, they must not start from start data: the dead worker may
      -- have run an attempt whose finish committed before Graphile Worker could complete its job.
      perform jobdeck_private.forget_start_data(v_gw);
    end if;
  end if;

  with r as (
    update jobdeck.jobs j
       set status = case when j.cancel_requested_at is not null then 'cancelled'
                         when j.attempts - j.attempts_before_retry < j.max_attempts then 'retrying' else 'failed' end,
           finished_at = case when j.cancel_requested_at is null and j.attempts - j.attempts_before_retry < j.max_attempts then null
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
        select row(j.type, json_build_object('jobdeckId', j.id), jobdeck_private.graphile_queue(j.queue), j.run_at, 25, null,
                   jobdeck_private.requeued_priority(j.priority), null)::graphile_worker.job_spec
          from jobdeck.jobs j
          join jsonb_to_recordset(v_done) as r(id uuid, status text) on r.id = j.id and r.status = 'retrying')) g
  )
  update jobdeck.jobs j set gw_job_id = gw.gw_job_id from gw where j.id = gw.id;
  delete from jobdeck_private.workers w where w.id = any(v_workers);
  if v_orgs is not null or v_keys is not null then
    perform jobdeck_private.release_held(v_orgs, v_keys);
  end if;
  return query select r.id, r.status, r.worker_id
    from jsonb_to_recordset(v_done) as r(id uuid, status text, worker_id text);
end;
$$;
revoke all on function jobdeck_private.rescue_workers(stale_after interval, rescuer text) from public;
