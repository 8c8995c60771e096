-- jobdeck.active_jobs(): unfinished jobs, newest first.
--
-- Served by the partial index jobs_active_idx however long the history grows; `purge_on =
-- 'infinity'` (every unfinished job is in jobs_live, migration 000024) lets the planner skip the
-- history partitions altogether. SECURITY INVOKER:
-- the caller's row-level security applies.
--
-- Inlined into its callers' queries, so no `set search_path` (a SET clause stops inlining):
-- every function it calls is schema-qualified and every operator has operands of exact types
-- (docs/security.md).

create or replace function jobdeck.active_jobs() returns setof jobdeck.jobs
language sql stable
as $$
  select j.* from jobdeck.jobs j
   where j.status in ('waiting', 'queued', 'running', 'retrying') and j.purge_on = 'infinity'::date
   order by j.created_at desc, j.id desc
$$;
comment on function jobdeck.active_jobs() is
  E'@behavior +filter +order\nJobs that are waiting for their dependencies, queued, running or waiting to retry, newest first.';
revoke all on function jobdeck.active_jobs() from public;
grant execute on function jobdeck.active_jobs() to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
