-- jobdeck.retry_job(id, keep_steps): run a failed or cancelled job again, for any caller.
-- requires: auth/authorize_job.sql auth/caller_scope.sql control/retry_job.sql
--
-- Checks the caller first (jobs.retry_jobs, and the job must be one they may see), then retries
-- through jobdeck_private.retry_job. An API caller is not told which other job holds the key.
--
-- keep_steps (default true): keep the job's completed durable steps, or drop them (false) so
-- every step runs again (sql/control/retry_job.sql).
--
-- plan_cache_mode: its statements are planned once per connection (migration 000007,
-- docs/performance.md); no plan depends on a parameter's value.

create or replace function jobdeck.retry_job(id uuid, keep_steps boolean default true) returns jobdeck.jobs
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
begin
  if retry_job.id is null then
    raise exception 'job id is required' using errcode = 'JD004';
  end if;
  perform jobdeck_private.authorize_job(retry_job.id, 'jobs.retry_jobs');
  begin
    return jobdeck_private.retry_job(retry_job.id, retry_job.keep_steps);
  exception when sqlstate 'JD011' then
    -- the message may name another job that holds the key; API callers must not learn of it
    if jobdeck_private.caller_scope() <> 'all' and sqlerrm like '%key%' then
      raise exception 'job % cannot be retried while another unfinished job holds its key', retry_job.id
        using errcode = 'JD011', detail = json_build_object('status', 'conflict')::text;
    end if;
    raise;
  end;
end;
$$;
comment on function jobdeck.retry_job(uuid, boolean) is
  E'@resultFieldName job\nRun a failed or cancelled job again with a fresh attempt budget; earlier errors are kept; completed steps are kept unless keepSteps is false. Errors: JD010, JD011, 42501.';
revoke all on function jobdeck.retry_job(id uuid, keep_steps boolean) from public;
grant execute on function jobdeck.retry_job(id uuid, keep_steps boolean) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
