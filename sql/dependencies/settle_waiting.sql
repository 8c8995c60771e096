-- jobdeck_private.settle_waiting(job_ids): queues or cancels waiting jobs whose dependencies allow it.
-- requires: concurrency/graphile_queue.sql
--
-- For each of these jobs still `waiting` (locked in id order), from its dependencies' statuses:
-- - every dependency succeeded: queued, with a Graphile job (at its run_at, or now);
-- - one failed (no attempts left) or was cancelled, and on_dependency_failure is `cancel`: the job
--   is cancelled, with cancel_reason `dependency <id> failed` (or `was cancelled`) naming that
--   dependency, and so is every waiting job that depends on it, transitively, whose policy is
--   `cancel` too (one statement, however deep the chain; the same reason names the first failed
--   job). cancel_requested_at stays null: nobody asked, so a retry of that dependency puts them
--   back (dependencies/revive_dependants.sql);
-- - one failed or was cancelled, the policy is `run`, and every dependency has finished: queued;
-- - otherwise it keeps waiting.
-- A dependency that no longer exists (pruned after it finished) counts as succeeded.
-- Called at enqueue (for the new job) and by the settle trigger when dependencies finish. The
-- job rows are locked before their dependencies are read, in a statement of their own, so two
-- dependencies finishing at once in two transactions take turns here and the second sees the
-- first's end. Returns how many jobs it queued or cancelled.

create or replace function jobdeck_private.settle_waiting(job_ids uuid[]) returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_ids     uuid[];
  v_cancel  uuid[];
  v_reasons text[];
  v_release uuid[];
  v_n       integer := 0;
  v_m       integer;
begin
  if coalesce(pg_catalog.cardinality(job_ids), 0) = 0 then
    return 0;
  end if;
  select array_agg(w.id) into v_ids
    from (select j.id from jobdeck.jobs j
           where j.id = any(job_ids) and j.status = 'waiting'
           order by j.id
             for update) w;
  if v_ids is null then
    return 0;
  end if;

  -- Decided into arrays before anything changes: the cancel below fires the settle trigger again
  -- (for the cancelled jobs' own dependants), which calls this function re-entrantly.
  select array_agg(s.id order by s.id) filter (where s.bad_id is not null and s.policy = 'cancel'),
         array_agg('dependency ' || s.bad_id || case s.bad_status when 'failed' then ' failed' else ' was cancelled' end
                   order by s.id) filter (where s.bad_id is not null and s.policy = 'cancel'),
         array_agg(s.id order by s.id) filter (where s.all_done and (s.bad_id is null or s.policy = 'run'))
    into v_cancel, v_reasons, v_release
    from (select j.id, j.on_dependency_failure as policy,
                 bool_and(coalesce(p.status, 'succeeded') in ('succeeded', 'failed', 'cancelled')) as all_done,
                 (array_agg(p.id order by p.id) filter (where p.status in ('failed', 'cancelled')))[1] as bad_id,
                 (array_agg(p.status order by p.id) filter (where p.status in ('failed', 'cancelled')))[1] as bad_status
            from jobdeck.jobs j
            cross join lateral pg_catalog.unnest(j.depends_on) d(id)
            left join jobdeck.jobs p on p.id = d.id
           where j.id = any(v_ids)
           group by j.id, j.on_dependency_failure) s;

  if v_cancel is not null then
    -- The closure first, then its rows locked in id order (as every other locker of jobs rows
    -- does), then the update: two settles cancelling overlapping descendants cannot deadlock.
    with recursive c(id, reason) as (
      select l.id, l.reason from rows from (pg_catalog.unnest(v_cancel), pg_catalog.unnest(v_reasons)) as l(id, reason)
      union
      select j.id, c.reason
        from c join jobdeck.jobs j on j.depends_on && array[c.id]
       where j.depends_on is not null and j.status = 'waiting' and j.on_dependency_failure = 'cancel'
    ), one as (
      select distinct on (c.id) c.id, c.reason from c order by c.id, c.reason
    )
    select array_agg(one.id order by one.id), array_agg(one.reason order by one.id)
      into v_cancel, v_reasons from one;
    perform 1 from (select j.id from jobdeck.jobs j where j.id = any(v_cancel) order by j.id for update) l;
    update jobdeck.jobs j
       set status = 'cancelled', finished_at = pg_catalog.now(), cancel_reason = pg_catalog.left(l.reason, 1000),
           eta_at = null, updated_at = pg_catalog.now()
      from rows from (pg_catalog.unnest(v_cancel), pg_catalog.unnest(v_reasons)) as l(id, reason)
     where j.id = l.id and j.status = 'waiting';
    get diagnostics v_n = row_count;
  end if;

  if v_release is not null then
    with gw as (
      select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
        from graphile_worker.add_jobs(array(
          select row(j.type, pg_catalog.json_build_object('jobdeckId', j.id), jobdeck_private.graphile_queue(j.queue),
                     greatest(j.run_at, pg_catalog.now()), 25, null, j.priority, null)::graphile_worker.job_spec
            from jobdeck.jobs j
           where j.id = any(v_release) and j.status = 'waiting')) g
    )
    update jobdeck.jobs j set status = 'queued', gw_job_id = gw.gw_job_id, updated_at = pg_catalog.now()
      from gw where j.id = gw.id;
    get diagnostics v_m = row_count;
    v_n := v_n + v_m;
  end if;
  return v_n;
end;
$$;
comment on function jobdeck_private.settle_waiting(uuid[]) is
  'Queue waiting jobs whose dependencies all succeeded; cancel (transitively) or queue those one of whose dependencies failed, by their on_dependency_failure.';
revoke all on function jobdeck_private.settle_waiting(job_ids uuid[]) from public;
