-- jobdeck.find_jobs(term): the job whose id is `term`, or the jobs whose key is, newest first
-- (the dashboard's search box).
--
-- SECURITY INVOKER: the caller's row-level security applies, so it finds only jobs the caller may
-- see. `key` is not a filterable column of `jobs`, so the search is this function's. A key given
-- through the API is stored in its owner's key space (enqueue/api_enqueue_key.sql): `term` is
-- matched as written there too, within the rows the caller's row-level security lets through.

create or replace function jobdeck.find_jobs(term text) returns setof jobdeck.jobs
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_term text := pg_catalog.btrim(find_jobs.term);
begin
  if v_term ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    return query select j.* from jobdeck.jobs j where j.id = v_term::uuid;
  end if;
  return query
    select j.* from jobdeck.jobs j
     where j.key = v_term
        -- the key an API caller gave, in its owner's key space (enqueue/api_enqueue_key.sql)
        or j.key = 'u:' || pg_catalog.md5(pg_catalog.json_build_array(j.org_id, j.owner_id)::text) || ':' || v_term
     order by j.created_at desc, j.id desc limit 20;
end;
$$;
comment on function jobdeck.find_jobs(text) is
  'The job whose id is `term`, or the jobs (at most 20, newest first) whose key is `term`.';
revoke all on function jobdeck.find_jobs(term text) from public;
grant execute on function jobdeck.find_jobs(term text) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
