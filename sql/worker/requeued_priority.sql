-- jobdeck_private.requeued_priority(priority): the Graphile Worker priority of a job put back after it ran.
--
-- One notch more urgent than the job's own priority (the row keeps its priority): a job a retry,
-- a rescue, a wake-up (sleep or waitFor), a worker shutdown or a rate limit puts back is taken
-- once it is due, ahead of same-priority jobs whose fair turns lie in the past
-- (sql/fairness/fair_turns.sql). Without it such a job kept its real time and waited behind a
-- whole backlog's turns: under one tenant's sustained backlog a rescued job waited until the
-- backlog ended (the fault soak's rescue check, 2026-12-06). Jobs that never started (orphans,
-- held jobs) keep the turn they had instead.

create or replace function jobdeck_private.requeued_priority(priority integer) returns integer
language sql immutable parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select greatest(priority - 1, -32768)
$$;
revoke all on function jobdeck_private.requeued_priority(priority integer) from public;
