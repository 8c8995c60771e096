-- jobdeck_private.drop_history_partitions(): drops the weekly history partitions of jobdeck.jobs whose whole week is past, with their jobs' events, steps and signals.
--
-- Retention by partition (migration 000024): a partition holds jobs whose purge_on falls in its
-- week, so once that week is over (UTC) every row in it is past its retention and the partition
-- goes whole, without a row-by-row delete or the vacuum after it. Dropping fires no trigger, so the
-- rows that point at its jobs (job_events, job_steps, job_signals: none has a foreign key) are
-- deleted first, joined to the partition's rows, while a share lock keeps them from moving out
-- (a retry). Dropping a partition locks jobdeck.jobs for a moment (ACCESS EXCLUSIVE: DETACH … CONCURRENTLY cannot run in a function); so that a long read
-- of jobs never makes every job's update queue behind the drop, it waits at most lock_timeout
-- and leaves a partition it could not lock for the next round (in a subtransaction, so its
-- deletes are undone too). Returns each partition dropped and how many jobs it held. Called by
-- pruneJobs (the prune_jobs task).

create or replace function jobdeck_private.drop_history_partitions()
returns table (partition text, jobs bigint)
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set lock_timeout = '2s'
as $$
declare
  v_part record;
  v_jobs bigint;
begin
  for v_part in
    select c.relname::text as name
      from pg_inherits i
      join pg_class c on c.oid = i.inhrelid
      join pg_namespace n on n.oid = c.relnamespace
     where i.inhparent = 'jobdeck.jobs'::regclass and n.nspname = 'jobdeck_private'
       and c.relname ~ '^jobs_p[0-9]{8}$'
       and to_date(substr(c.relname, 7), 'YYYYMMDD') + 7 <= (now() at time zone 'UTC')::date
     order by c.relname
  loop
    begin
      -- Its rows stay put (no retry moves one out) while their events go; jobs itself is locked
      -- only for the drop, not for the deletes.
      execute format('lock table jobdeck_private.%I in share mode', v_part.name);
      execute format('select count(*) from jobdeck_private.%I', v_part.name) into v_jobs;
      if v_jobs > 0 then
        execute format('delete from jobdeck.job_events e using jobdeck_private.%I p where e.job_id = p.id', v_part.name);
        execute format('delete from jobdeck.job_steps s using jobdeck_private.%I p where s.job_id = p.id', v_part.name);
        execute format('delete from jobdeck_private.job_signals g using jobdeck_private.%I p where g.job_id = p.id',
                       v_part.name);
      end if;
      lock table jobdeck.jobs in access exclusive mode;
      execute format('drop table jobdeck_private.%I', v_part.name);
    exception when lock_not_available then
      continue;
    end;
    partition := v_part.name;
    jobs := v_jobs;
    return next;
  end loop;
end;
$$;
comment on function jobdeck_private.drop_history_partitions() is
  'Drops the weekly history partitions of jobdeck.jobs whose week is past, after deleting their jobs'' events, steps and signals; returns what it dropped.';
revoke all on function jobdeck_private.drop_history_partitions() from public;
