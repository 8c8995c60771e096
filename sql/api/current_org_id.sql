-- jobdeck.current_org_id(): the signed-in user's organisation (JWT `org`), or null.
--
-- As jobdeck.current_user_id(): the claim counts only in a session of the API's login role,
-- jobdeck_api; for any other session this is null. No `set search_path` (it would stop inlining
-- into the row-level security policies); every name is schema-qualified instead.

create or replace function jobdeck.current_org_id() returns text
language sql stable parallel safe
as $$
  select case when session_user = 'jobdeck_api' then nullif(pg_catalog.current_setting('jwt.claims.org', true), '') end
$$;
comment on function jobdeck.current_org_id() is 'The signed-in user''s organisation (JWT `org`), or null.';
revoke all on function jobdeck.current_org_id() from public;
grant execute on function jobdeck.current_org_id() to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
