-- jobdeck_private.refresh_type_stats(): each type's median run time, for the ETA before progress.
--
-- From the latest 200 successful jobs of each type.

create or replace function jobdeck_private.refresh_type_stats() returns void
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  update jobdeck_private.task_types t
     set median_ms = s.median_ms, stats_at = now()
    from (
      select tt.type,
             (select percentile_cont(0.5) within group (order by extract(epoch from (r.finished_at - r.started_at)) * 1000)
                from (select j.finished_at, j.started_at from jobdeck.jobs j
                       where j.type = tt.type and j.status = 'succeeded' and j.started_at is not null
                       order by j.created_at desc limit 200) r)::bigint as median_ms
        from jobdeck_private.task_types tt
    ) s
   where s.type = t.type and s.median_ms is distinct from t.median_ms
$$;
revoke all on function jobdeck_private.refresh_type_stats() from public;
