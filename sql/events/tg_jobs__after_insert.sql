-- jobdeck_private.tg_jobs__after_insert() and its trigger: announces new jobs, records their first transition.
-- requires: events/notify_jobs.sql
--
-- Announce every visible change in the same transaction that makes it: the job's id only, on its
-- secret-derived channels (events/notify_jobs.sql); listeners re-read the row. Statement-level
-- with a transition table, so a batch insert announces with one call, and records its transition
-- events in one insert.

create or replace function jobdeck_private.tg_jobs__after_insert() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  -- new jobs on their owner and organisation channels (lists of active jobs); a job without an
  -- organisation is on neither, so it costs no call and no NOTIFY here
  perform jobdeck_private.notify_jobs('new', pg_catalog.array_agg(n.id), pg_catalog.array_agg(n.owner_id),
                                      pg_catalog.array_agg(n.org_id))
     from new_rows n
    where n.org_id is not null
   having pg_catalog.count(*) > 0;

  insert into jobdeck.job_events (job_id, kind, level, message, attempt)
  select n.id, 'transition', 'info',
         case when n.status = 'running' then 'running (attempt ' || n.attempts || ')' else n.status end,
         n.attempts
  from new_rows n;
  return null;
end;
$$;

drop trigger if exists _500_notify_insert on jobdeck.jobs;
create trigger _500_notify_insert after insert on jobdeck.jobs
  referencing new table as new_rows
  for each statement execute function jobdeck_private.tg_jobs__after_insert();
revoke all on function jobdeck_private.tg_jobs__after_insert() from public;
