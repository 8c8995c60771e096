-- jobdeck_private.caller_scope(): 'all', 'org', 'own' or 'none': what the caller may touch.
--
-- The caller's scope inside SECURITY DEFINER functions, where current_user is the owner: the
-- `role` setting still names the role the request switched to (session_user when none was).
-- 'all' for the owner of the jobdeck schema, superusers, and roles unrelated to the API (the
-- workers, the CLI, the app's own role in its triggers); for the API's roles and any role made a
-- member of them (e.g. a login role `in role jobdeck_user`) 'org', 'own' or 'none'.

create or replace function jobdeck_private.caller_scope() returns text
language plpgsql stable
as $$
declare
  v_role name := coalesce(nullif(current_setting('role', true), 'none'), session_user);
begin
  if v_role = (select r.rolname from pg_namespace n join pg_roles r on r.oid = n.nspowner where n.nspname = 'jobdeck')
     or (select r.rolsuper from pg_roles r where r.rolname = v_role) then
    return 'all';
  elsif pg_has_role(v_role, 'jobdeck_admin', 'member') then
    return 'org';
  elsif pg_has_role(v_role, 'jobdeck_user', 'member') then
    return 'own';
  elsif pg_has_role(v_role, 'jobdeck_anonymous', 'member') or pg_has_role(v_role, 'jobdeck_api', 'member') then
    return 'none';
  end if;
  return 'all';
end;
$$;
