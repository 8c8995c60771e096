-- jobdeck_private.tg_jobs__after_insert() and its trigger: announces new jobs, records their first transition.
-- requires: api/channel_name.sql
--
-- Announce every visible change in the same transaction that makes it: tiny payloads (id,
-- status, progress, owner, org), listeners re-read. Statement-level with a transition table, so
-- a batch insert announces once per row without a trigger call per row, and records its
-- transition events in one insert.

create or replace function jobdeck_private.tg_jobs__after_insert() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  perform pg_notify(jobdeck.channel_name(c.kind, c.id), r.message)
  from (
    select n.id, n.owner_id, n.org_id,
           jsonb_build_object('id', n.id, 'status', n.status, 'progress', n.progress,
                              'owner', n.owner_id, 'org', n.org_id)::text as message
    from new_rows n
  ) r
  cross join lateral (values ('job', r.id::text), ('owner', r.owner_id), ('org', r.org_id)) as c(kind, id)
  where c.id is not null;

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
