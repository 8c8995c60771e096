-- jobdeck.current_user_id(): the signed-in user (JWT `sub`), or null.
--
-- The server sets jwt.claims.* for the request's transaction only; row-level security policies
-- and the API's functions read them through this. Any session can set such settings, so they
-- count only in a session of the API's login role, jobdeck_api (docs/security.md): for every
-- other session this is null, whatever the settings say.
--
-- No `set search_path`: a SET clause would stop PostgreSQL from inlining it into the row-level
-- security policies. Every name in it is schema-qualified instead.

create or replace function jobdeck.current_user_id() returns text
language sql stable parallel safe
as $$
  select case when session_user = 'jobdeck_api' then nullif(pg_catalog.current_setting('jwt.claims.sub', true), '') end
$$;
comment on function jobdeck.current_user_id() is 'The signed-in user (JWT `sub`), or null.';
revoke all on function jobdeck.current_user_id() from public;
grant execute on function jobdeck.current_user_id() to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
