-- jobdeck_private.begin_jobs(items, worker_id): the rows of a batch of Graphile jobs that may run now.
-- requires: concurrency/org_cap.sql worker/start_jobs.sql pauses/pause_reason.sql
--
-- The worker's fast path (migration 000005, docs/performance.md): for the common case (a tracked
-- job under no concurrency cap or limit, and not paused) it only reads the rows, once each, and the task starts at once;
-- rows returned `queued`/`retrying` are marked later by mark_running, or by their finish_jobs.
-- Everything else (capped jobs, jobs added straight to Graphile Worker, rows that moved on) goes
-- through start_jobs, which marks them `running` and decides caps under the caps' locks.
--
-- plan_cache_mode: its statements are planned once per connection (migration 000007,
-- docs/performance.md); no plan depends on a parameter's value.

create or replace function jobdeck_private.begin_jobs(items jsonb, worker_id text) returns setof jobdeck.jobs
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_rows   jobdeck.jobs[];
  v_ids    uuid[] := array(select (e ->> 'id')::uuid from jsonb_array_elements(items) e where e ->> 'id' is not null);
  v_cap    integer := jobdeck_private.org_cap();
  v_capped boolean;
begin
  -- With no concurrency cap, limit or pause anywhere (the common case) no row needs its type
  -- looked at. One statement for all the checks: each statement of a PL/pgSQL function is a
  -- round of the executor, and this runs for every start batch.
  select v_cap is not null
         or exists (select 1 from jobdeck_private.task_types t
                     where t.org_concurrency is not null or t.key_concurrency is not null)
         or exists (select 1 from jobdeck_private.concurrency_limits)
         or exists (select 1 from jobdeck_private.rate_limits)
         or exists (select 1 from jobdeck_private.pauses)
    into v_capped;
  -- Rows by primary key only (`|| ''` and `+ 0` keep a partial index from being implied: on a
  -- busy table the planner, misled by stale statistics, would walk the waiting jobs instead).
  select array_agg(j order by j.id) into v_rows
    from jobdeck.jobs j
    join jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint) on v.id = j.id
   where j.id = any(v_ids)
     and (j.status || '') in ('queued', 'retrying') and j.held_at is null and j.gw_job_id + 0 = v.gw_job_id
     and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
     and (not v_capped
          or ((j.org_id is null
               or (v_cap is null
                   and not exists (select 1 from jobdeck_private.task_types t
                                    where t.type = j.type and t.org_concurrency is not null)))
              and not exists (select 1 from jobdeck_private.concurrency_limits l
                               where (l.scope = 'type' and l.key = j.type)
                                  or (l.scope = 'queue' and l.key = j.queue))
              -- per-key concurrency and rate limits (issue 20)
              and not exists (select 1 from jobdeck_private.task_types t
                               where t.type = j.type and t.key_concurrency is not null)
              and not exists (select 1 from jobdeck_private.rate_limits l
                               where (l.scope = 'type' and l.name = j.type)
                                  or (l.scope = 'queue' and l.name = j.queue))
              and jobdeck_private.pause_reason(j.type, j.queue) is null));

  if v_rows is not null then
    return query select * from unnest(v_rows);
  end if;
  -- Everything else (capped jobs, jobs added straight to Graphile Worker, rows that moved on)
  -- goes through start_jobs, which decides under the caps' locks.
  if jsonb_array_length(items) > coalesce(cardinality(v_rows), 0) then
    return query
    select s.* from jobdeck_private.start_jobs(
      (select jsonb_agg(e) from jsonb_array_elements(items) e
        where (e ->> 'id') is null or v_rows is null
           or not exists (select 1 from unnest(v_rows) r where r.id = (e ->> 'id')::uuid)),
      worker_id) s;
  end if;
end;
$$;
revoke all on function jobdeck_private.begin_jobs(items jsonb, worker_id text) from public;
