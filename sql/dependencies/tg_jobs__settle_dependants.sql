-- jobdeck_private.tg_jobs__settle_dependants() and its trigger: moves waiting jobs on when their dependencies finish.
-- requires: dependencies/settle_waiting.sql dependencies/revive_dependants.sql
--
-- Statement-level, in the transaction that finishes the dependency (finish_jobs, cancel_job,
-- cancel_batch, the rescuer, …: every path that ends a job), so a dependant is queued or
-- cancelled exactly when its dependency's end commits. Only rows with `has_dependants` are looked
-- at; a statement without any (the hot path: jobs nobody depends on) costs one scan of the
-- transition table and returns. A dependency that enters succeeded, failed or cancelled settles
-- its waiting dependants (dependencies/settle_waiting.sql); one that leaves failed or cancelled
-- (a retry by hand) revives the dependants its failure cancelled (dependencies/revive_dependants.sql).
-- Cancelling dependants updates jobs again, which fires this trigger for their own dependants.

create or replace function jobdeck_private.tg_jobs__settle_dependants() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_ended   uuid[];
  v_retried uuid[];
begin
  if not exists (select 1 from new_rows n where n.has_dependants) then
    return null;
  end if;
  select array_agg(n.id) filter (where n.status in ('succeeded', 'failed', 'cancelled')),
         array_agg(n.id) filter (where o.status in ('failed', 'cancelled')
                                   and n.status not in ('succeeded', 'failed', 'cancelled'))
    into v_ended, v_retried
    from new_rows n join old_rows o on o.id = n.id
   where n.has_dependants and n.status is distinct from o.status;
  if v_retried is not null then
    perform jobdeck_private.revive_dependants(v_retried);
  end if;
  if v_ended is not null then
    perform jobdeck_private.settle_waiting(array(
      select j.id from jobdeck.jobs j
       where j.depends_on && v_ended and j.depends_on is not null and j.status = 'waiting'));
  end if;
  return null;
end;
$$;

drop trigger if exists _700_settle_dependants on jobdeck.jobs;
create trigger _700_settle_dependants after update on jobdeck.jobs
  referencing old table as old_rows new table as new_rows
  for each statement execute function jobdeck_private.tg_jobs__settle_dependants();
revoke all on function jobdeck_private.tg_jobs__settle_dependants() from public;
