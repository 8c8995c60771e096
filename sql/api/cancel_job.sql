-- jobdeck.cancel_job(id, reason): cancel a job, for any caller.
-- requires: auth/authorize_job.sql control/cancel_job.sql
--
-- Checks the caller first (an API user may cancel only the jobs they may see, with the
-- jobs.cancel_jobs permission), then cancels through jobdeck_private.cancel_job. Trusted callers
-- (workers, the CLI, the TypeScript client, SQL triggers) pass the check unchanged.
--
-- plan_cache_mode: its statements are planned once per connection (migration 000007,
-- docs/performance.md); no plan depends on a parameter's value.

create or replace function jobdeck.cancel_job(id uuid, reason text default null) returns jobdeck.jobs
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
begin
  if cancel_job.id is null then
    raise exception 'job id is required' using errcode = 'JD004';
  end if;
  perform jobdeck_private.authorize_job(cancel_job.id, 'jobs.cancel_jobs');
  return jobdeck_private.cancel_job(cancel_job.id, reason);
end;
$$;
comment on function jobdeck.cancel_job(uuid, text) is
  E'@resultFieldName job\nCancel a job: queued/retrying at once, running through its worker (ctx.signal aborts). Errors: JD010 not found, JD011 already finished, 42501 not allowed.';
revoke all on function jobdeck.cancel_job(id uuid, reason text) from public;
grant execute on function jobdeck.cancel_job(id uuid, reason text) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
