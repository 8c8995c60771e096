-- jobdeck_private.release_held(org_ids): gives held jobs a Graphile job while their caps leave room.
-- requires: concurrency/lock_orgs.sql concurrency/org_cap.sql
--
-- Counts as busy: running jobs and waiting jobs that already hold a Graphile job due now. Takes
-- the organisations' locks. Returns how many jobs were released.

create or replace function jobdeck_private.release_held(org_ids text[]) returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
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
revoke all on function jobdeck_private.release_held(org_ids text[]) from public;
