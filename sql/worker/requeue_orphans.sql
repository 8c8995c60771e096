-- jobdeck_private.requeue_orphans(items): gives orphaned waiting jobs a new Graphile job.
-- requires: concurrency/graphile_queue.sql
--
-- Each candidate ([{id, gw_job_id}] from orphaned_jobs) still waiting on the same missing Graphile
-- job gets a new one, with a control event saying why; a job given a turn between tenants
-- (fair_at) gets it back at that turn, as release_held does. Returns the requeued ids.
--
-- plan_cache_mode: its statements are planned once per connection (migration 000007,
-- docs/performance.md); no plan depends on a parameter's value.

create or replace function jobdeck_private.requeue_orphans(items jsonb) returns setof uuid
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
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
        select row(j.type, json_build_object('jobdeckId', j.id), jobdeck_private.graphile_queue(j.queue),
                   case when j.run_at > now() then j.run_at else coalesce(j.fair_at, now()) end, 25, null,
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
revoke all on function jobdeck_private.requeue_orphans(items jsonb) from public;
