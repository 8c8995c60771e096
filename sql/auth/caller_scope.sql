-- jobdeck_private.caller_scope(): 'all', 'org', 'own' or 'none': what the caller may touch.
--
-- The caller's scope inside SECURITY DEFINER functions, where current_user is the owner: the
-- `role` setting still names the role the caller switched to (session_user when none was).
-- Fails closed: only the roles listed here get more than 'none' (docs/security.md).
-- - A session of the API's login role, jobdeck_api: 'org' as jobdeck_admin, 'own' as
--   jobdeck_user, else 'none' (jobdeck_anonymous, or jobdeck_api itself after SET ROLE NONE).
--   Only here do the request roles count, so a login role someone made a member of jobdeck_user
--   gets 'none', whatever claims it sets.
-- - 'all' for the owner of the jobdeck schema, superusers, and members of jobdeck_system (roles
--   that act as jobdeck itself from SQL: an application's own role in its triggers).
-- - 'none' for every other role.

create or replace function jobdeck_private.caller_scope() returns text
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_role name := coalesce(nullif(pg_catalog.current_setting('role', true), 'none'), session_user);
begin
  if session_user = 'jobdeck_api' then
    return case v_role when 'jobdeck_admin' then 'org' when 'jobdeck_user' then 'own' else 'none' end;
  -- cheapest first (each or stops at the first true): pg_has_role reads the role caches (and
  -- counts a superuser as a member of every role), the owner's name one catalog index; pg_roles,
  -- a view over two catalogs, comes last. An enqueue pays this once (docs/performance.md).
  elsif pg_catalog.pg_has_role(v_role, 'jobdeck_system', 'member')
     or v_role = pg_catalog.pg_get_userbyid((select n.nspowner from pg_catalog.pg_namespace n
                                              where n.nspname = 'jobdeck'))
     or coalesce((select r.rolsuper from pg_catalog.pg_roles r where r.rolname = v_role), false) then
    return 'all';
  end if;
  return 'none';
end;
$$;
revoke all on function jobdeck_private.caller_scope() from public;
