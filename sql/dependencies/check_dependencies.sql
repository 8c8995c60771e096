-- jobdeck_private.check_dependencies(depends_on, on_dependency_failure): checks and locks the jobs a new job depends on.
-- requires: auth/caller_scope.sql api/current_org_id.sql api/current_user_id.sql
-- requires: start/forget_start_data.sql
--
-- Returns the ids sorted and without repeats. Refuses (JD004, naming the id) an id that names
-- no job, or a job the caller may not see: an API caller (GraphQL, REST) may depend only on its
-- own jobs, or its organisation's for an admin, exactly the rows row-level security shows it;
-- a trusted caller (scope 'all') on any job. A job the caller may not see reads as not found, so
-- ids leak nothing (as jobdeck_private.authorize_job).
--
-- The dependencies are locked (no key update, in id order, so two enqueues cannot deadlock), and
-- their `has_dependants` set: a dependency finishing at the same moment either committed first
-- (the new job's settle then sees its end) or waits for this transaction (its settle trigger
-- then finds the new job). Enqueues of dependants of one job take turns on its row; jobs without
-- dependants pay nothing.

create or replace function jobdeck_private.check_dependencies(depends_on uuid[], on_dependency_failure text)
returns uuid[]
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_scope text := jobdeck_private.caller_scope();
  v_org   text := jobdeck.current_org_id();
  v_user  text := jobdeck.current_user_id();
  v_deps  uuid[];
  v_stripped integer;
  v_found uuid[];
  v_miss  uuid;
begin
  if on_dependency_failure is not null and on_dependency_failure not in ('cancel', 'run') then
    raise exception 'on_dependency_failure must be cancel or run, got %', on_dependency_failure using errcode = 'JD004';
  end if;
  if pg_catalog.array_position(depends_on, null) is not null then
    raise exception 'depends_on must not contain null' using errcode = 'JD004';
  end if;
  v_deps := array(select distinct d from pg_catalog.unnest(depends_on) d order by d);
  if pg_catalog.cardinality(v_deps) > 1000 then
    raise exception 'depends_on may list at most 1000 jobs, got %', pg_catalog.cardinality(v_deps) using errcode = 'JD004';
  end if;
  select array_agg(l.id) into v_found
    from (select j.id from jobdeck.jobs j
           where j.id = any(v_deps)
             and (v_scope = 'all'
                  or (v_scope in ('own', 'org') and j.org_id = v_org and (v_scope = 'org' or j.owner_id = v_user)))
           order by j.id
             for no key update) l;
  select d into v_miss from pg_catalog.unnest(v_deps) d where d <> all(coalesce(v_found, '{}')) order by d limit 1;
  if v_miss is not null then
    raise exception 'depends_on: job % not found', v_miss using errcode = 'JD004';
  end if;
  with d as (
    update jobdeck.jobs j set has_dependants = true where j.id = any(v_deps) and not j.has_dependants
    returning j.gw_job_id
  )
  -- a waiting dependency's start data says has_dependants false (start/forget_start_data.sql)
  select jobdeck_private.forget_start_data(array(select d.gw_job_id from d where d.gw_job_id is not null))
    into v_stripped;
  return v_deps;
end;
$$;
comment on function jobdeck_private.check_dependencies(uuid[], text) is
  'Check the jobs a new job depends on (they exist, the caller may see them), lock them and mark them as having dependants. Errors: JD004.';
revoke all on function jobdeck_private.check_dependencies(depends_on uuid[], on_dependency_failure text) from public;
