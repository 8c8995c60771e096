-- jobdeck_private.admit_jobs(job_ids, count_waiting): which of these jobs the concurrency caps let run.
-- requires: concurrency/org_cap.sql pauses/paused_job_ids.sql pauses/pause_reason.sql
--
-- The one place that decides admission, for start_jobs (jobs about to run) and release_held (held
-- jobs about to be queued again). The caller holds the locks of every cap involved (lock_orgs,
-- lock_limits) and the jobs' rows. A slot is taken by a running job not among `job_ids`, and with
-- `count_waiting` also by a waiting job whose Graphile job is due (release_held: those will start
-- before the ones it releases).
--
-- The caps, checked in turn, each on the jobs the previous ones let through, best first (priority,
-- run_at, created_at, id): the type's per-organisation cap (orgConcurrency), the organisation's
-- cap (JOBDECK_ORG_CONCURRENCY), the type's limit (maxConcurrent) and the queue's limit
-- (set_queue_concurrency). Each check admits at most the room its cap has left, so together they
-- never admit too many. A job refused gets the reason of the first cap that refused it, for its
-- `held:` event.
--
-- A paused job (sql/pauses/) is refused before any cap, with the pause's `paused:` reason, and takes
-- no room under the caps: it is taken out of `job_ids` before the caps are checked.
--
-- PL/pgSQL, so the statement is planned once per connection (plan_cache_mode, as start_jobs);
-- every column is qualified, away from the output columns' names.

create or replace function jobdeck_private.admit_jobs(job_ids uuid[], count_waiting boolean)
returns table (id uuid, admitted boolean, reason text)
language plpgsql stable
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_paused uuid[] := jobdeck_private.paused_job_ids(job_ids);
begin
  if v_paused is not null then
    return query
    select j.id, false, jobdeck_private.pause_reason(j.type, j.queue)
      from jobdeck.jobs j where j.id = any(v_paused);
    job_ids := array(select x from unnest(job_ids) x where x <> all(v_paused));
  end if;
  return query
  with cand as (
    select j.id, j.org_id, j.type, j.queue, j.priority, j.run_at, j.created_at,
           t.org_concurrency as type_org_cap, c.cap as org_cap,
           (j.org_id is not null and (c.cap is not null or t.org_concurrency is not null)) as org_capped,
           lt.max_running as type_limit, lq.max_running as queue_limit
      from jobdeck.jobs j
     cross join (select jobdeck_private.org_cap() as cap) c
      left join jobdeck_private.task_types t on t.type = j.type
      left join jobdeck_private.concurrency_limits lt on lt.scope = 'type' and lt.key = j.type
      left join jobdeck_private.concurrency_limits lq on lq.scope = 'queue' and lq.key = j.queue
     where j.id = any(job_ids)
  ), dims as (
    select array_agg(distinct c.org_id) filter (where c.org_capped) as orgs,
           array_agg(distinct c.type) filter (where c.type_limit is not null) as types,
           array_agg(distinct c.queue) filter (where c.queue_limit is not null) as queues
      from cand c
  ), busy as (
    select x.org_id, x.type, x.queue
      from jobdeck.jobs x, dims d
     where x.status = 'running' and x.id <> all(job_ids)
       and (x.org_id = any(d.orgs) or x.type = any(d.types) or x.queue = any(d.queues))
    union all
    select x.org_id, x.type, x.queue
      from jobdeck.jobs x, dims d
     where count_waiting and x.status in ('queued', 'retrying') and x.held_at is null
       and x.gw_job_id is not null and x.run_at <= now() and x.id <> all(job_ids)
       and (x.org_id = any(d.orgs) or x.type = any(d.types) or x.queue = any(d.queues))
  ), r1 as (
    select c.*, row_number() over (partition by c.org_id, c.type
                                   order by c.priority, c.run_at, c.created_at, c.id) as rn
      from cand c
  ), s1 as (
    select r1.* from r1
     where not r1.org_capped or r1.type_org_cap is null
        or (select count(*) from busy b where b.org_id = r1.org_id and b.type = r1.type) + r1.rn <= r1.type_org_cap
  ), r2 as (
    select s1.id, s1.org_id, s1.type, s1.queue, s1.priority, s1.run_at, s1.created_at, s1.org_cap,
           s1.org_capped, s1.type_limit, s1.queue_limit,
           row_number() over (partition by s1.org_id order by s1.priority, s1.run_at, s1.created_at, s1.id) as rn
      from s1
  ), s2 as (
    select r2.* from r2
     where not r2.org_capped or r2.org_cap is null
        or (select count(*) from busy b where b.org_id = r2.org_id) + r2.rn <= r2.org_cap
  ), r3 as (
    select s2.id, s2.type, s2.queue, s2.priority, s2.run_at, s2.created_at, s2.type_limit, s2.queue_limit,
           row_number() over (partition by s2.type order by s2.priority, s2.run_at, s2.created_at, s2.id) as rn
      from s2
  ), s3 as (
    select r3.* from r3
     where r3.type_limit is null
        or (select count(*) from busy b where b.type = r3.type) + r3.rn <= r3.type_limit
  ), r4 as (
    select s3.id, s3.queue, s3.queue_limit,
           row_number() over (partition by s3.queue order by s3.priority, s3.run_at, s3.created_at, s3.id) as rn
      from s3
  ), s4 as (
    select r4.id from r4
     where r4.queue_limit is null
        or (select count(*) from busy b where b.queue = r4.queue) + r4.rn <= r4.queue_limit
  )
  select c.id, s4.id is not null,
         case
           when s4.id is not null then null
           when not exists (select 1 from s1 where s1.id = c.id) then
             format('held: organisation "%s" is at its concurrency limit for task type "%s" (%s)',
                    c.org_id, c.type, c.type_org_cap)
           when not exists (select 1 from s2 where s2.id = c.id) then
             format('held: organisation "%s" is at its concurrency limit (%s)', c.org_id, c.org_cap)
           when not exists (select 1 from s3 where s3.id = c.id) then
             format('held: task type "%s" is at its concurrency limit (%s)', c.type, c.type_limit)
           else format('held: queue "%s" is at its concurrency limit (%s)', c.queue, c.queue_limit)
         end
    from cand c left join s4 on s4.id = c.id;
end;
$$;
revoke all on function jobdeck_private.admit_jobs(job_ids uuid[], count_waiting boolean) from public;
