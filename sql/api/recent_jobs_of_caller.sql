-- jobdeck.recent_jobs_of_caller(succeeded_for_seconds): the caller's unfinished jobs and the ones that ended lately, newest first.
-- requires: api/current_user_id.sql
--
-- What `GET /api/v2/jobs/active` (the DataBiz widget) lists: every unfinished job of the caller,
-- the failed and cancelled ones created in the last hour, the succeeded ones for
-- `succeeded_for_seconds` after they ended; at most 100. SECURITY INVOKER: the caller's row-level
-- security applies.
--
-- PL/pgSQL with plan_cache_mode = force_generic_plan, so it is planned once per connection: since
-- jobs is partitioned (migration 000024), a job created in the last hour may already be in a
-- history partition, so this read must plan every partition, and planning it on each request cost
-- several times what running it does (about 3 ms against 0.5 ms with six weekly partitions).

create or replace function jobdeck.recent_jobs_of_caller(succeeded_for_seconds integer)
returns setof jobdeck.jobs
language plpgsql stable
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
begin
  return query
  select j.* from jobdeck.jobs j
   where j.owner_id = jobdeck.current_user_id()
     and (j.status in ('waiting', 'queued', 'running', 'retrying')
          or (j.created_at > now() - interval '1 hour'
              and (j.status in ('failed', 'cancelled')
                   or j.finished_at > now() - make_interval(secs => succeeded_for_seconds))))
   order by j.created_at desc
   limit 100;
end;
$$;
comment on function jobdeck.recent_jobs_of_caller(integer) is
  'The caller''s unfinished jobs, failed or cancelled ones created in the last hour and succeeded ones ended in the last succeeded_for_seconds; newest first, at most 100.';
revoke all on function jobdeck.recent_jobs_of_caller(succeeded_for_seconds integer) from public;
grant execute on function jobdeck.recent_jobs_of_caller(succeeded_for_seconds integer) to jobdeck_user, jobdeck_admin;
