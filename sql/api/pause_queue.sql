-- jobdeck.pause_queue(queue, reason, cancel_running, paused_by): no job of a queue starts until resumed.
-- requires: pauses/pause.sql
--
-- Across every worker process, and across restarts (a row of jobdeck_private.pauses). Its waiting
-- jobs stay queued, held with the reason `paused: queue "<queue>"` on the row (held_reason), counted as
-- paused by job_stats. Running jobs finish, unless `cancel_running`: then they get a cancel
-- request through the ordinary cancel path. `paused_by` says who (default: the session's user).
-- Returns the pause (`scope`, `key`, `reason`, `pausedBy`, `pausedAt`) with `held` (jobs held now)
-- and `cancelled` (cancel requests made). Callable by jobdeck_system (the trusted SQL API); the
-- API's operators reach it through TypeScript (docs/security.md, "Pausing").

create or replace function jobdeck.pause_queue(queue text, reason text default null, cancel_running boolean default false,
  paused_by text default null)
returns jsonb
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return jobdeck_private.pause('queue', pause_queue.queue, reason, coalesce(cancel_running, false), paused_by);
end;
$$;
comment on function jobdeck.pause_queue(text, text, boolean, text) is
  'Pause a queue: its jobs stay queued and none starts, on any worker, until resumed. Errors: JD004 bad argument.';
revoke all on function jobdeck.pause_queue(queue text, reason text, cancel_running boolean, paused_by text) from public;
grant execute on function jobdeck.pause_queue(queue text, reason text, cancel_running boolean, paused_by text) to jobdeck_system;
