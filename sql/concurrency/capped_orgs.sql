-- jobdeck_private.capped_orgs(job_ids): the organisations of these jobs that fall under a cap.
-- requires: concurrency/org_cap.sql
--
-- A cap is the global one (org_cap) or the job type's org_concurrency. With no cap configured
-- anywhere (the common case), nothing is capped and no job needs looking at: null at once.

create or replace function jobdeck_private.capped_orgs(job_ids uuid[]) returns text[]
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
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
revoke all on function jobdeck_private.capped_orgs(job_ids uuid[]) from public;
