-- jobdeck 000009: least privilege (docs/security.md).
--
-- - jobdeck_system (NOLOGIN): roles that act as jobdeck itself from SQL, e.g. an application's
--   own role whose triggers call jobdeck.enqueue(). Until this migration every role that was not
--   one of the API's counted as trusted; now only the owner, superusers and members of
--   jobdeck_system do (jobdeck_private.caller_scope()), and every other role is refused.
-- - The API's login role, jobdeck_api, is NOINHERIT and the request roles never log in.
-- - No function is PUBLIC's: each sql/ file grants its function to exactly the roles that call it,
--   and functions created later start with no PUBLIC EXECUTE either.
-- - PostgreSQL 14 and older let every role create objects in schema public, where they could plant
--   functions that shadow the ones jobdeck calls. Where the migrating user owns the database (or
--   is a superuser), that right is taken from PUBLIC, as PostgreSQL 15 does by default.

do $$
declare
  v_role text;
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'jobdeck_system') then
    begin
      create role jobdeck_system nologin;
    exception
      when duplicate_object or unique_violation then null; -- another database's migration made it
      when insufficient_privilege then
        raise exception 'cannot create role jobdeck_system: the migrating user % needs CREATEROLE once, or a DBA can create it beforehand (create role jobdeck_system nologin)',
          current_user using errcode = '42501';
    end;
  end if;
  foreach v_role in array array['jobdeck_anonymous', 'jobdeck_user', 'jobdeck_admin', 'jobdeck_system'] loop
    if (select r.rolcanlogin from pg_catalog.pg_roles r where r.rolname = v_role) then
      execute pg_catalog.format('alter role %I nologin', v_role);
    end if;
  end loop;
  if (select r.rolinherit from pg_catalog.pg_roles r where r.rolname = 'jobdeck_api') then
    alter role jobdeck_api noinherit;
  end if;
end;
$$;

grant usage on schema jobdeck to jobdeck_system;
grant select on jobdeck.jobs, jobdeck.job_events to jobdeck_system;
create policy jobs_select_system on jobdeck.jobs for select to jobdeck_system using (true);
create policy job_events_select_system on jobdeck.job_events for select to jobdeck_system using (true);

revoke execute on all functions in schema jobdeck, jobdeck_private from public;
alter default privileges in schema jobdeck, jobdeck_private revoke execute on functions from public;

do $$
begin
  if not exists (select 1 from pg_catalog.pg_namespace n where n.nspname = 'public') then
    return;
  end if;
  if (select d.datdba from pg_catalog.pg_database d where d.datname = pg_catalog.current_database())
       = (select r.oid from pg_catalog.pg_roles r where r.rolname = current_user)
     or (select r.rolsuper from pg_catalog.pg_roles r where r.rolname = current_user) then
    revoke create on schema public from public;
  elsif pg_catalog.has_schema_privilege('public', 'public', 'create') then
    raise notice 'jobdeck: every role may create objects in schema public here (PostgreSQL 14 and older); the owner of this database should run "revoke create on schema public from public" (docs/security.md)';
  end if;
end;
$$;

-- The API's login password is derived from the owner's password (src/db/api-login.ts); for an
-- owner that logs in without one (trust or peer authentication), from this random value instead.
insert into jobdeck_private.settings (name, value)
values ('api_login_secret',
        pg_catalog.to_jsonb(pg_catalog.replace(pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text, '-', '')))
on conflict (name) do nothing;
