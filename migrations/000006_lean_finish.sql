-- 000006: less work per job on the worker's path (docs/performance.md, "The write path").
--
-- Measured on the bench's drain (pg_stat_statements, 50k jobs): a finish cost PostgreSQL about
-- 100 µs per job, a start about 25 µs. This migration removes the parts that bought nothing:
--   * the foreign key from job_events to jobs: checking it cost each event row a lookup and a
--     key-share lock of its job, about 10 µs per finished job (two transition events each). Every
--     event is written either by a trigger of its job's row, by a function that has just updated
--     or locked that row, or by the worker's log insert, which now locks the job itself. Deleting
--     a job deletes its events through a statement trigger, as the cascade did;
--   * jobs_type_created_idx: one more index entry per row version, for a filter that is always
--     combined with an owner, an organisation or a time range served by the other indexes;
--   * begin_jobs reads each row once instead of twice;
--   * finish_jobs locks its rows and reads what decides the outcome in the same statement as the
--     update, instead of a separate locking pass and a second lookup per row.

-- ---------------------------------------------------------------------------------------------
-- Events without a foreign key

alter table jobdeck.job_events drop constraint job_events_job_id_fkey;

-- GraphQL keeps the relation (Job.events, JobEvent.job) through a declared foreign key.
comment on table jobdeck.job_events is
  E'@behavior -insert -update -delete -query:resource:list -query:resource:connection -single\n@foreignKey (job_id) references jobdeck.jobs (id)|@foreignFieldName events|@fieldName job\nLog lines written by tasks and the status transitions of each job.';

create function jobdeck_private.tg_jobs__after_delete() returns trigger
language plpgsql as $$
begin
  -- By the events index, one job at a time (a hash join could scan every event).
  delete from jobdeck.job_events e where e.job_id = any(array(select o.id from old_rows o));
  return null;
end;
$$;

create trigger _500_delete_events after delete on jobdeck.jobs
  referencing old table as old_rows
  for each statement execute function jobdeck_private.tg_jobs__after_delete();

-- ---------------------------------------------------------------------------------------------
-- One index fewer

drop index jobdeck.jobs_type_created_idx;
-- GraphQL offered `condition: {type}` and ordering by type because of that index; they stay.
comment on column jobdeck.jobs.type is E'@behavior +filterBy +orderBy\nThe task type (a module in tasks/).';

-- ---------------------------------------------------------------------------------------------
-- Start: one read per row

create or replace function jobdeck_private.begin_jobs(items jsonb, worker_id text) returns setof jobdeck.jobs
language plpgsql volatile
as $$
declare
  v_rows   jobdeck.jobs[];
  v_ids    uuid[] := array(select (e ->> 'id')::uuid from jsonb_array_elements(items) e where e ->> 'id' is not null);
  v_cap    integer := jobdeck_private.org_cap();
  v_capped boolean;
begin
  -- With no concurrency cap anywhere (the common case) no row needs its type looked at.
  v_capped := v_cap is not null
              or exists (select 1 from jobdeck_private.task_types t where t.org_concurrency is not null);
  -- Rows by primary key only (`|| ''` and `+ 0` keep a partial index from being implied: on a
  -- busy table the planner, misled by stale statistics, would walk the waiting jobs instead).
  select array_agg(j order by j.id) into v_rows
    from jobdeck.jobs j
    join jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint) on v.id = j.id
   where j.id = any(v_ids)
     and (j.status || '') in ('queued', 'retrying') and j.held_at is null and j.gw_job_id + 0 = v.gw_job_id
     and (j.org_id is null or not v_capped
          or (v_cap is null
              and not exists (select 1 from jobdeck_private.task_types t
                               where t.type = j.type and t.org_concurrency is not null)));

  if v_rows is not null then
    return query select * from unnest(v_rows);
  end if;
  -- Everything else (capped jobs, jobs added straight to Graphile Worker, rows that moved on)
  -- goes through start_jobs, which decides under the organisation's lock.
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

-- ---------------------------------------------------------------------------------------------
-- Finish: the same outcomes as 000005, in one locking statement

create or replace function jobdeck_private.finish_jobs(items jsonb, worker_id text)
returns table (id uuid, status text)
language plpgsql volatile
as $$
declare
  v_ids     uuid[];
  v_orgs    text[];
  v_done    jsonb;
begin
  select array_agg(v.id) into v_ids from jsonb_to_recordset(items) as v(id uuid);
  v_orgs := jobdeck_private.capped_orgs(v_ids);
  perform jobdeck_private.lock_orgs(v_orgs);

  with v as (
    select * from jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint, started_at timestamptz, attempt integer,
                                                 outcome text, retryable boolean, result jsonb, error jsonb,
                                                 peak_rss_bytes bigint, cpu_ms bigint, progress integer, step text,
                                                 completed integer, total integer)
  ), cur as materialized (
    -- Row locks in id order (no deadlock with other batches). A row locked here is read as it is
    -- now, after any cancel that committed while we waited; the update below sees the same.
    select j.id, j.status, j.cancel_requested_at, j.max_attempts
      from jobdeck.jobs j where j.id = any(v_ids) order by j.id for update
  ), d as (
    select v.*, c.status = 'running' as marked,
           case
             when v.outcome = 'succeeded' then 'succeeded'
             when v.outcome = 'cancelled' then 'cancelled'
             when c.cancel_requested_at is not null then 'cancelled'
             when v.outcome = 'interrupted' then 'queued'
             when v.outcome = 'error' and v.retryable and v.attempt < c.max_attempts then 'retrying'
             else 'failed'
           end as new_status
      from v join cur c on c.id = v.id
  ), upd as (
    update jobdeck.jobs j
       set status = d.new_status,
           result = case when d.new_status = 'succeeded' then d.result else j.result end,
           errors = case when d.error is null then j.errors else j.errors || jsonb_build_array(d.error) end,
           attempts = case when d.new_status = 'queued' then greatest(d.attempt - 1, 0) else d.attempt end,
           worker_id = finish_jobs.worker_id,
           started_at = case when d.marked then j.started_at else d.started_at end,
           finished_at = case when d.new_status in ('succeeded', 'failed', 'cancelled') then now() end,
           progress = case when d.new_status = 'succeeded' then 100
                           else coalesce(d.progress, case when d.marked then j.progress else 0 end) end,
           current_step = coalesce(d.step, case when d.marked then j.current_step end),
           total_steps = coalesce(d.total, case when d.marked then j.total_steps end),
           completed_steps = case when d.new_status = 'succeeded' and coalesce(d.total, case when d.marked then j.total_steps end) is not null
                                  then coalesce(d.total, case when d.marked then j.total_steps end)
                                  else coalesce(d.completed, case when d.marked then j.completed_steps else 0 end) end,
           run_at = case d.new_status
                      when 'retrying' then now() + jobdeck_private.retry_delay(
                        (select t.backoff from jobdeck_private.task_types t where t.type = j.type), d.attempt)
                      when 'queued' then now()
                      else j.run_at end,
           gw_job_id = case when d.new_status in ('retrying', 'queued') then null else j.gw_job_id end,
           cancel_requested_at = case when d.new_status = 'cancelled' then coalesce(j.cancel_requested_at, now())
                                      else j.cancel_requested_at end,
           eta_at = null, updated_at = now(), heartbeat_at = now(),
           peak_rss_bytes = greatest(d.peak_rss_bytes, case when d.marked then j.peak_rss_bytes end),
           cpu_ms = coalesce(d.cpu_ms, case when d.marked then j.cpu_ms end)
      from d
     -- Rows by primary key only: with a status test a partial index implies (`|| ''` hides it),
     -- the planner, misled by a busy table's stale statistics, walks thousands of waiting rows.
     -- (No `j.id = any(v_ids)` here: next to `j.id = d.id` it made each row's probe search the
     -- whole array.)
     where j.id = d.id
       and (((j.status || '') = 'running' and j.worker_id = finish_jobs.worker_id and j.attempts = d.attempt)
         or ((j.status || '') in ('queued', 'retrying') and j.held_at is null and j.gw_job_id = d.gw_job_id
             and j.attempts = d.attempt - 1))
    returning j.id, j.status
  )
  select coalesce(jsonb_agg(jsonb_build_object('id', upd.id, 'status', upd.status)), '[]') into v_done from upd;

  -- The next attempt of each requeued job gets a Graphile job of its own.
  if exists (select 1 from jsonb_to_recordset(v_done) as f(id uuid, status text) where f.status in ('retrying', 'queued')) then
    with gw as (
      select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
        from graphile_worker.add_jobs(array(
          select row(j.type, json_build_object('jobdeckId', j.id), j.queue, j.run_at, 25, null,
                     j.priority, null)::graphile_worker.job_spec
            from jobdeck.jobs j
            join jsonb_to_recordset(v_done) as f(id uuid, status text)
              on f.id = j.id and f.status in ('retrying', 'queued'))) g
    )
    update jobdeck.jobs j set gw_job_id = gw.gw_job_id from gw where j.id = gw.id;
  end if;

  if v_orgs is not null then
    perform jobdeck_private.release_held(v_orgs);
  end if;
  return query select f.id, f.status from jsonb_to_recordset(v_done) as f(id uuid, status text);
end;
$$;
