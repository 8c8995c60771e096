-- jobdeck_private.heartbeat(worker_id, info, running, jobs): one call per worker tick.
--
-- Refreshes the worker's row (with `readsStartData` in `info`: whether the worker starts jobs from
-- their start data, migration 000025), samples its running jobs (`jobs`: [{id, rss, cpu_ms}], may be
-- null), and returns those of `running` that must stop: with a cancel request (the polling
-- fallback for a missed notification), or `lost` when the job is no longer this worker's (it was
-- presumed dead and its jobs rescued).
--
-- plan_cache_mode: its statements are planned once per connection (migration 000007,
-- docs/performance.md); no plan depends on a parameter's value.

create or replace function jobdeck_private.heartbeat(worker_id text, info jsonb, running uuid[], jobs jsonb)
returns table (id uuid, cancel_reason text, lost boolean)
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
begin
  insert into jobdeck_private.workers as w (id, pool_id, hostname, pid, concurrency, task_types, rss_bytes, running_jobs,
                                            stopping_at, reads_start_data)
  values (worker_id, info ->> 'poolId', info ->> 'hostname', (info ->> 'pid')::integer,
          (info ->> 'concurrency')::integer,
          coalesce(array(select jsonb_array_elements_text(info -> 'taskTypes')), '{}'),
          (info ->> 'rssBytes')::bigint, coalesce(cardinality(running), 0),
          case when (info ->> 'stopping')::boolean then now() end,
          coalesce((info ->> 'readsStartData')::boolean, false))
  on conflict on constraint workers_pkey do update
     set pool_id = excluded.pool_id, heartbeat_at = now(), rss_bytes = excluded.rss_bytes,
         running_jobs = excluded.running_jobs, stopping_at = coalesce(w.stopping_at, excluded.stopping_at),
         reads_start_data = excluded.reads_start_data;

  if jobs is not null then
    update jobdeck.jobs j
       set peak_rss_bytes = greatest(j.peak_rss_bytes, v.rss), cpu_ms = v.cpu_ms, heartbeat_at = now()
      from jsonb_to_recordset(jobs) as v(id uuid, rss bigint, cpu_ms bigint)
     where j.id = v.id and j.status = 'running' and j.worker_id = heartbeat.worker_id
       and j.purge_on = 'infinity';  -- a literal: planned against jobs_live only (000024)
  end if;

  return query
  select r.id, j.cancel_reason,
         (j.id is null or j.status <> 'running' or j.worker_id is distinct from heartbeat.worker_id) as lost
    from unnest(running) as r(id)
    left join jobdeck.jobs j on j.id = r.id
   where j.id is null or j.status <> 'running' or j.worker_id is distinct from heartbeat.worker_id
      or j.cancel_requested_at is not null;
end;
$$;
revoke all on function jobdeck_private.heartbeat(worker_id text, info jsonb, running uuid[], jobs jsonb) from public;
