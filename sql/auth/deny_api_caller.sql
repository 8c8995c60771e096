-- jobdeck_private.deny_api_caller(what): raises for API callers.
-- requires: auth/caller_scope.sql
--
-- The trusted enqueue takes owner and organisation as arguments, so API callers may not use it:
-- they have enqueue_job, which takes both from the token.

create or replace function jobdeck_private.deny_api_caller(what text) returns void
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if jobdeck_private.caller_scope() <> 'all' then
    raise exception '% is not available to API callers; use jobdeck.enqueue_job()', what using errcode = '42501';
  end if;
end;
$$;
revoke all on function jobdeck_private.deny_api_caller(what text) from public;
