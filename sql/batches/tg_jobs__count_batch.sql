-- jobdeck_private.tg_jobs__count_batch() and its trigger: keeps batches' counters in step with their jobs.
-- requires: batches/count_batches.sql
--
-- Statement-level, so a statement finishing many jobs (finish_jobs) moves each batch's counters
-- once and locks the batches in id order (a row-level trigger would lock them in the order the
-- jobs were updated, and two statements could deadlock). PostgreSQL allows no column list
-- (`update of status`) with transition tables, so every update of jobs calls it; without a
-- batch job in the statement it costs one scan of the transition table (shared with the events
-- trigger's) and returns. A job counts
-- when it enters succeeded, failed or cancelled, and counts back when it leaves one (retry_job).
-- jobdeck.cancel_batch() names its batch in `jobdeck.counting_batch` (local to its transaction)
-- and recounts it once at the end, so it does not hold the batch's row while it takes the jobs'.

create or replace function jobdeck_private.tg_jobs__count_batch() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_skip text := pg_catalog.current_setting('jobdeck.counting_batch', true);
begin
  if not exists (select 1 from new_rows n where n.batch_id is not null) then
    return null;
  end if;
  perform jobdeck_private.count_batches(pg_catalog.array_agg(d.batch_id order by d.batch_id),
                                        pg_catalog.array_agg(d.succeeded order by d.batch_id),
                                        pg_catalog.array_agg(d.failed order by d.batch_id),
                                        pg_catalog.array_agg(d.cancelled order by d.batch_id))
     from (select n.batch_id,
                  (pg_catalog.count(*) filter (where n.status = 'succeeded')
                     - pg_catalog.count(*) filter (where o.status = 'succeeded'))::integer as succeeded,
                  (pg_catalog.count(*) filter (where n.status = 'failed')
                     - pg_catalog.count(*) filter (where o.status = 'failed'))::integer as failed,
                  (pg_catalog.count(*) filter (where n.status = 'cancelled')
                     - pg_catalog.count(*) filter (where o.status = 'cancelled'))::integer as cancelled
             from new_rows n join old_rows o on o.id = n.id
            where n.batch_id is not null and n.status is distinct from o.status
              and (n.status in ('succeeded', 'failed', 'cancelled') or o.status in ('succeeded', 'failed', 'cancelled'))
              and n.batch_id::pg_catalog.text is distinct from v_skip
            group by n.batch_id) d
   having pg_catalog.count(*) > 0;
  return null;
end;
$$;

drop trigger if exists _600_count_batch on jobdeck.jobs;
create trigger _600_count_batch after update on jobdeck.jobs
  referencing old table as old_rows new table as new_rows
  for each statement execute function jobdeck_private.tg_jobs__count_batch();
revoke all on function jobdeck_private.tg_jobs__count_batch() from public;
