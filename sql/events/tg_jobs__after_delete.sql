-- jobdeck_private.tg_jobs__after_delete() and its trigger: a deleted job's events, steps and signals go with it.
--
-- job_events has no foreign key to jobs (migration 000006: checking it cost every event row a
-- lookup and a lock of its job); this statement trigger does what its cascade did. job_steps and
-- job_signals lost theirs when jobs became partitioned (000024: a foreign key would have to
-- reference (id, purge_on)); the trigger deletes them too. Dropping a history partition fires no
-- trigger: pruneJobs deletes the partition's events, steps and signals first.

create or replace function jobdeck_private.tg_jobs__after_delete() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  -- By the events index, one job at a time (a hash join could scan every event).
  delete from jobdeck.job_events e where e.job_id = any(array(select o.id from old_rows o));
  delete from jobdeck.job_steps s where s.job_id = any(array(select o.id from old_rows o));
  delete from jobdeck_private.job_signals g where g.job_id = any(array(select o.id from old_rows o));
  return null;
end;
$$;

drop trigger if exists _500_delete_events on jobdeck.jobs;
create trigger _500_delete_events after delete on jobdeck.jobs
  referencing old table as old_rows
  for each statement execute function jobdeck_private.tg_jobs__after_delete();
revoke all on function jobdeck_private.tg_jobs__after_delete() from public;
