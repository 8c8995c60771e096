-- jobdeck_private.retry_job(job_id, keep_steps): runs a failed or cancelled job again, without checking the caller.
-- requires: concurrency/graphile_queue.sql
--
-- A fresh attempt budget (attempts_before_retry = attempts, manual_retries + 1); `attempts` keeps
-- counting, so the next attempt's number is unique over the job's life (migration 000014); earlier
-- errors stay in `errors`. Refused
-- while another unfinished job holds the job's key. Written as jobdeck.retry_job in migration
-- 000003 and moved here in 000004; jobdeck.retry_job is now the wrapper that checks the caller
-- first (api/retry_job.sql).
--
-- keep_steps (default true; migration 000017): the job's completed durable steps (job_steps) are
-- kept, so the retry returns their stored results instead of running them again; false deletes
-- them and the job starts from scratch. Steps that never completed (a sleep or wait it was parked
-- on) are deleted either way, so they start afresh.
--
-- plan_cache_mode: its statements are planned once per connection (migration 000007,
-- docs/performance.md); no plan depends on a parameter's value.

create or replace function jobdeck_private.retry_job(job_id uuid, keep_steps boolean default true) returns jobdeck.jobs
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_job   jobdeck.jobs;
  v_other uuid;
  v_gw    bigint;
begin
  if job_id is null then
    raise exception 'job id is required' using errcode = 'JD004';
  end if;
  select * into v_job from jobdeck.jobs j where j.id = retry_job.job_id for update;
  if not found then
    raise exception 'job % not found', job_id using errcode = 'JD010';
  end if;
  if v_job.status not in ('failed', 'cancelled') then
    raise exception 'job % is % and cannot be retried: only failed or cancelled jobs can', job_id, v_job.status
      using errcode = 'JD011', detail = json_build_object('status', v_job.status)::text;
  end if;
  if v_job.key is not null then
    select j.id into v_other from jobdeck.jobs j
     where j.key = v_job.key and j.status in ('queued', 'running', 'retrying') and j.id <> v_job.id;
    if found then
      raise exception 'job % cannot be retried: job % holds its key "%" and is not finished', job_id, v_other, v_job.key
        using errcode = 'JD011', detail = json_build_object('status', v_job.status)::text;
    end if;
  end if;
  v_gw := (graphile_worker.add_job(
    identifier => v_job.type,
    payload => json_build_object('jobdeckId', v_job.id),
    queue_name => jobdeck_private.graphile_queue(v_job.queue),
    max_attempts => 25,
    priority => v_job.priority
  )).id;
  begin
    update jobdeck.jobs j
       set status = 'queued', attempts_before_retry = j.attempts, manual_retries = j.manual_retries + 1, run_at = now(),
           finished_at = null, started_at = null, result = null, progress = 0, current_step = null,
           completed_steps = 0, total_steps = null, cancel_requested_at = null, cancel_reason = null,
           held_at = null, eta_at = null, worker_id = null, gw_job_id = v_gw, updated_at = now(),
           purge_on = 'infinity'  -- back to jobs_live, wherever it was (migration 000024)
     where j.id = v_job.id returning j.* into v_job;
  exception when unique_violation then
    raise exception 'job % cannot be retried: another unfinished job took its key "%"', job_id, v_job.key
      using errcode = 'JD011', detail = json_build_object('status', v_job.status)::text;
  end;
  delete from jobdeck.job_steps s
   where s.job_id = v_job.id and (not coalesce(retry_job.keep_steps, true) or s.completed_at is null);
  insert into jobdeck.job_events (job_id, kind, level, message, attempt)
  values (v_job.id, 'control', 'info',
          case when coalesce(retry_job.keep_steps, true)
               then 'retried by hand with a fresh attempt budget'
               else 'retried by hand with a fresh attempt budget, its step results dropped' end,
          v_job.attempts);
  return v_job;
end;
$$;
comment on function jobdeck_private.retry_job is
  'Run a failed or cancelled job again with a fresh attempt budget; earlier errors are kept; completed steps are kept unless keep_steps is false. Errors: JD010, JD011.';
revoke all on function jobdeck_private.retry_job(job_id uuid, keep_steps boolean) from public;
