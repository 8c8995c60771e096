-- jobdeck_private.orphaned_jobs(after_created, after_id, scan): one page of the orphan sweep.
--
-- Orphans: waiting rows whose Graphile job is gone. A worker that crashed after Graphile Worker
-- completed a job but before its finish committed leaves one behind. Workers look for
-- candidates now and then and requeue those still orphaned at the next look (requeue_orphans).
-- Scans at most `scan` unfinished jobs, newest first, after the cursor (created_at, id) of the
-- previous page (null: from the start), through the active-jobs index. Returns the orphans found
-- and the cursor to continue from (null once the end is reached; the time as text, to keep its
-- microseconds), so a large backlog costs each sweep a bounded amount.

create or replace function jobdeck_private.orphaned_jobs(after_created timestamptz default null, after_id uuid default null,
                                              scan integer default 5000)
returns table (id uuid, gw_job_id bigint, next_created text, next_id uuid)
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  with page as materialized (
    select j.id, j.gw_job_id, j.status, j.held_at, j.created_at
      from jobdeck.jobs j
     where j.status in ('queued', 'running', 'retrying')
       and (after_created is null
            or j.created_at < after_created or (j.created_at = after_created and j.id > after_id))
     order by j.created_at desc, j.id
     limit scan
  ), last as (
    select p.created_at, p.id from page p order by p.created_at, p.id desc limit 1
  )
  select o.id, o.gw_job_id,
         case when (select count(*) from page) = scan then (select l.created_at::text from last l) end,
         case when (select count(*) from page) = scan then (select l.id from last l) end
    from (select p.id, p.gw_job_id from page p
           where p.status in ('queued', 'retrying') and p.held_at is null
             and not exists (select 1 from graphile_worker.jobs g where g.id = p.gw_job_id)
          union all
          -- the cursor row, so the caller learns where to go on even when nothing is orphaned
          select null, null) o
$$;
revoke all on function jobdeck_private.orphaned_jobs(after_created timestamp with time zone, after_id uuid, scan integer) from public;
