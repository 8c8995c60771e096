-- jobdeck.current_user_id(): the signed-in user (JWT `sub`), or null.
--
-- The server sets jwt.claims.* for the request's transaction only; row-level security policies
-- and the API's functions read them through this.

create or replace function jobdeck.current_user_id() returns text
language sql stable parallel safe
as $$
  select nullif(current_setting('jwt.claims.sub', true), '')
$$;
comment on function jobdeck.current_user_id() is 'The signed-in user (JWT `sub`), or null.';
