-- jobdeck.resume_all(): ends the pause of everything; its held jobs are queued again at once.
-- requires: pauses/resume.sql
--
-- Deletes the pause row and releases the held jobs in the same transaction (jobs another pause or
-- a concurrency limit still holds stay held, with that reason). Resuming what is not paused
-- changes nothing. Returns `scope`, `key`, `resumed` (whether it was paused) and `released`
-- (jobs queued again). Callable by jobdeck_system.

create or replace function jobdeck.resume_all()
returns jsonb
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return jobdeck_private.resume('all', '');
end;
$$;
comment on function jobdeck.resume_all() is
  'End the pause of everything: its held jobs are queued again at once. Errors: JD004 bad argument.';
revoke all on function jobdeck.resume_all() from public;
grant execute on function jobdeck.resume_all() to jobdeck_system;
