-- jobdeck_private.tg_jobs__after_update() and its trigger: announces changes, records transitions.
-- requires: events/notify_jobs.sql
--
-- NOTIFY the job's id on its job, owner and organisation channels (secret-derived,
-- events/notify_jobs.sql) when anything a watcher shows changed (status, progress, steps,
-- attempts, cancel request, held or released, run_at, owner, org); listeners re-read the row.
-- Transition events, only where they say what the row does not: an unmarked attempt that ends
-- (the worker's fast path, migration 000005: it ended within the mark delay) is one event, its
-- end, whose data carries `startedAt`, instead of a `running` event and an end event (the row's
-- started_at keeps only the last attempt's start). jobs_attempt_history opens an attempt at
-- either; docs/performance.md measures the event row this saves on every short job. A cancel of
-- a waiting job is also sent to workers on the cancel channel: one may be running it unmarked.

create or replace function jobdeck_private.tg_jobs__after_update() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  perform jobdeck_private.notify_jobs('change', pg_catalog.array_agg(n.id), pg_catalog.array_agg(n.owner_id),
                                      pg_catalog.array_agg(n.org_id))
     from new_rows n join old_rows o on o.id = n.id
    where (n.status, n.progress, n.current_step, n.completed_steps, n.total_steps, n.attempts, n.cancel_requested_at,
           n.held_at is null, n.run_at, n.owner_id, n.org_id)
      is distinct from
          (o.status, o.progress, o.current_step, o.completed_steps, o.total_steps, o.attempts, o.cancel_requested_at,
           o.held_at is null, o.run_at, o.owner_id, o.org_id)
   having pg_catalog.count(*) > 0;

  perform jobdeck_private.notify_jobs('cancel', pg_catalog.array_agg(n.id))
     from new_rows n join old_rows o on o.id = n.id
    where n.status = 'cancelled' and o.status in ('queued', 'retrying')
   having pg_catalog.count(*) > 0;

  insert into jobdeck.job_events (job_id, at, kind, level, message, data, attempt)
  select e.job_id, e.at, 'transition', e.level, e.message, e.data, e.attempt
  from (
    select n.id as job_id, pg_catalog.now() as at,
           case n.status when 'failed' then 'error' when 'retrying' then 'warn' else 'info' end as level,
           case
             when n.status in ('failed', 'retrying') and pg_catalog.jsonb_array_length(n.errors) > pg_catalog.jsonb_array_length(o.errors)
               then n.status || ': ' || pg_catalog.left(n.errors -> -1 ->> 'message', 500)
             when n.status = 'retrying' then 'retrying at ' || pg_catalog.to_char(n.run_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
             when n.status = 'queued' and o.status = 'running' and n.rate_deferrals > o.rate_deferrals
               then 'queued again: ' || n.held_reason
             -- a sleep or waitFor parks the job until a later run_at (finish_jobs); a shutdown requeues it for now
             when n.status = 'queued' and o.status = 'running' and n.run_at > pg_catalog.now()
               then 'queued again: parked (sleep or waitFor) until ' || pg_catalog.to_char(n.run_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
             when n.status = 'queued' and o.status = 'running' then 'queued again: the attempt was interrupted by a worker shutdown'
             when n.status = 'cancelled' and n.cancel_reason is not null then 'cancelled: ' || pg_catalog.left(n.cancel_reason, 500)
             when n.status = 'running' and o.status = 'running' then 'running (attempt ' || n.attempts || ', rescued)'
             when n.status = 'running' then 'running (attempt ' || n.attempts || ')'
             else n.status
           end as message,
           pg_catalog.jsonb_build_object('from', case when o.status in ('queued', 'retrying') and n.status <> 'running'
                                                and n.attempts > o.attempts then 'running' else o.status end,
                              'to', n.status) ||
             case when n.status = 'retrying' then pg_catalog.jsonb_build_object('runAt', n.run_at) else '{}' end ||
             -- the end of an attempt never marked running carries its start
             case when o.status in ('queued', 'retrying') and n.status <> 'running' and n.attempts > o.attempts
                       and n.started_at is not null
                  then pg_catalog.jsonb_build_object('startedAt', n.started_at) else '{}' end as data,
           n.attempts as attempt
      from new_rows n join old_rows o on o.id = n.id
     where n.status is distinct from o.status
        or (n.status = 'running' and n.attempts is distinct from o.attempts)
        or (n.status = 'retrying' and n.attempts > o.attempts)
  ) e
  order by e.job_id;
  return null;
end;
$$;

drop trigger if exists _500_notify_update on jobdeck.jobs;
create trigger _500_notify_update after update on jobdeck.jobs
  referencing old table as old_rows new table as new_rows
  for each statement execute function jobdeck_private.tg_jobs__after_update();
revoke all on function jobdeck_private.tg_jobs__after_update() from public;
