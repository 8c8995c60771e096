-- jobdeck_private.move_to_history(settled, succeeded_days, failed_days, batch_size): moves one batch of finished jobs out of jobs_live into their history partitions.
-- requires: history/ensure_history_partitions.sql
--
-- A job finished more than `settled` ago gets purge_on = the day after its retention ends
-- (succeeded_days for a success, failed_days for a failure or a cancel, counted from finished_at
-- in UTC), which moves the row (row movement) into the weekly partition of that day; the
-- partitions are created first. Jobs already past their retention stay: pruneJobs deletes them
-- from jobs_live as before. Rows another transaction holds are skipped (skip locked), so a retry
-- or a delete of a finished job never waits for the service. Moving changes nothing a watcher
-- sees: the update triggers of jobs find no changed status or progress, so nothing is announced
-- or recorded. Returns how many rows moved; the service calls it until a batch comes back short.
-- Run by the maintenance service (src/worker/history.ts), never on a worker's job path.

create or replace function jobdeck_private.move_to_history(settled interval, succeeded_days integer,
                                                           failed_days integer, batch_size integer)
returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_ids   uuid[];
  v_purge date[];
  v_first date;
  v_last  date;
  v_moved integer;
begin
  with due as (
    select j.id, p.purge_on
      from jobdeck_private.jobs_live j
      cross join lateral (
        select ((j.finished_at at time zone 'UTC')
                 + make_interval(days => case when j.status = 'succeeded' then succeeded_days else failed_days end)
               )::date + 1 as purge_on
      ) p
     where j.status in ('succeeded', 'failed', 'cancelled')
       and j.finished_at < now() - settled
       and p.purge_on > (now() at time zone 'UTC')::date
     order by j.finished_at
     limit batch_size
       for update of j skip locked
  )
  select array_agg(d.id), array_agg(d.purge_on), min(d.purge_on), max(d.purge_on)
    into v_ids, v_purge, v_first, v_last
    from due d;
  if v_ids is null then
    return 0;
  end if;
  perform jobdeck_private.ensure_history_partitions(v_first, v_last);
  update jobdeck.jobs j
     set purge_on = m.purge_on
    from unnest(v_ids, v_purge) as m(id, purge_on)
   where j.id = m.id and j.purge_on = 'infinity'
     and j.status in ('succeeded', 'failed', 'cancelled');
  get diagnostics v_moved = row_count;
  return v_moved;
end;
$$;
comment on function jobdeck_private.move_to_history(interval, integer, integer, integer) is
  'Moves up to batch_size jobs finished more than `settled` ago from jobs_live into their weekly history partitions; returns how many moved.';
revoke all on function jobdeck_private.move_to_history(settled interval, succeeded_days integer, failed_days integer, batch_size integer) from public;
