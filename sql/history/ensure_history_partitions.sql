-- jobdeck_private.ensure_history_partitions(from_day, through_day): creates the weekly history partitions of jobdeck.jobs covering these days.
-- requires: history/history_partition.sql
--
-- Called by the maintenance service before it moves finished jobs (move_to_history) and for the
-- weeks ahead, so a moved row finds its partition; returns the partitions it created. A row whose
-- week had no partition went to jobs_default (the safety net): such rows are taken out of it and
-- put into the new partition, which PostgreSQL requires before the partition may be created. They
-- go straight into the partitions, not through jobdeck.jobs, so no trigger of jobs fires: nothing
-- about the jobs changed. An advisory lock serialises two workers creating the same week.
-- lock_timeout: a lock it cannot have at once (a long read of the default partition) is tried
-- again at the service's next round rather than waited for.

create or replace function jobdeck_private.ensure_history_partitions(from_day date, through_day date)
returns setof text
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set lock_timeout = '2s'
as $$
declare
  v_week date := date_trunc('week', from_day::timestamp)::date;
  v_name text;
  v_stray boolean;
begin
  if from_day is null or through_day is null or from_day = 'infinity' or through_day = 'infinity' then
    return;
  end if;
  perform pg_advisory_xact_lock(hashtext('jobdeck_private.ensure_history_partitions'));
  while v_week <= through_day loop
    v_name := jobdeck_private.history_partition(v_week);
    if to_regclass(format('jobdeck_private.%I', v_name)) is null then
      v_stray := exists (select 1 from jobdeck_private.jobs_default d
                          where d.purge_on >= v_week and d.purge_on < v_week + 7);
      if v_stray then
        create temporary table if not exists pg_temp.jobdeck_default_rows (like jobdeck.jobs) on commit drop;
        with moved as (
          delete from jobdeck_private.jobs_default d
           where d.purge_on >= v_week and d.purge_on < v_week + 7
          returning d.*
        )
        insert into pg_temp.jobdeck_default_rows select * from moved;
      end if;
      -- Created, then attached: `create table … partition of` would lock jobdeck.jobs against every
      -- read and write (ACCESS EXCLUSIVE); attaching takes SHARE UPDATE EXCLUSIVE, which neither
      -- blocks nor waits for them (the empty default partition is locked and checked instead).
      execute format('create table jobdeck_private.%I (like jobdeck.jobs including defaults including constraints)',
                     v_name);
      execute format('alter table jobdeck.jobs attach partition jobdeck_private.%I for values from (%L) to (%L)',
                     v_name, v_week, v_week + 7);
      execute format('comment on table jobdeck_private.%I is %L', v_name,
                     'History of jobdeck.jobs: finished jobs with purge_on in the week from ' || v_week
                     || '; dropped whole once that week is past (migration 000024).');
      if v_stray then
        execute format('insert into jobdeck_private.%I select * from pg_temp.jobdeck_default_rows', v_name);
        truncate pg_temp.jobdeck_default_rows;
      end if;
      return next v_name;
    end if;
    v_week := v_week + 7;
  end loop;
end;
$$;
comment on function jobdeck_private.ensure_history_partitions(date, date) is
  'Creates the missing weekly history partitions of jobdeck.jobs from the week of from_day through through_day; returns their names.';
revoke all on function jobdeck_private.ensure_history_partitions(from_day date, through_day date) from public;
