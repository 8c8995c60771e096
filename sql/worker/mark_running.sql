-- jobdeck_private.mark_running(items, worker_id): marks read-only starts running, a flush later.
-- requires: worker/estimate_eta.sql
--
-- `items`: [{id, gw_job_id, attempt, started_at, progress, step, completed, total}]; `attempt`
-- is the attempt the worker runs (the row's attempts + 1). A row is marked only while it still
-- waits for exactly that attempt. Returns every item with whether it was marked and, when not,
-- the status it had (cancelled: the worker aborts the attempt).
--
-- plan_cache_mode: its statements are planned once per connection (migration 000007,
-- docs/performance.md); no plan depends on a parameter's value.

create or replace function jobdeck_private.mark_running(items jsonb, worker_id text)
returns table (id uuid, marked boolean, status text)
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
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
           eta_at = jobdeck_private.estimate_eta(v.started_at, coalesce(v.progress, 0),
             (select t.median_ms from jobdeck_private.task_types t where t.type = j.type))
      from v
     where j.id = any(v_ids) and j.id = v.id  -- by primary key only, see finish_jobs
       and (j.status || '') in ('queued', 'retrying') and j.held_at is null
       and j.gw_job_id + 0 = v.gw_job_id and j.attempts = v.attempt - 1
       and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
    returning j.id
  )
  select array_agg(upd.id) into v_marked from upd;

  return query
  select v.id, coalesce(v.id = any(v_marked), false), j.status
    from jsonb_to_recordset(items) as v(id uuid)
    left join jobdeck.jobs j on j.id = v.id;
end;
$$;
revoke all on function jobdeck_private.mark_running(items jsonb, worker_id text) from public;
