-- jobdeck_private.cancel_job(job_id, reason): cancels a job, without checking the caller.
-- requires: concurrency/capped_orgs.sql concurrency/lock_orgs.sql concurrency/release_held.sql
-- requires: concurrency/limit_keys.sql concurrency/lock_limits.sql
-- requires: events/notify_jobs.sql start/forget_start_data.sql
--
-- Queued or retrying: cancelled at once and out of Graphile Worker's queue. Running: a cancel
-- request its worker hears (a NOTIFY of the job's id on the secret cancel channel, after which the
-- worker re-reads the row; or its heartbeat) and aborts ctx.signal for.
-- Written as jobdeck.cancel_job in migration 000003 and moved here in 000004; jobdeck.cancel_job
-- is now the wrapper that checks the caller first (api/cancel_job.sql).
--
-- plan_cache_mode: its statements are planned once per connection (migration 000007,
-- docs/performance.md); no plan depends on a parameter's value.

create or replace function jobdeck_private.cancel_job(job_id uuid, reason text default null) returns jobdeck.jobs
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_job  jobdeck.jobs;
  v_keys text[];
begin
  if job_id is null then
    raise exception 'job id is required' using errcode = 'JD004';
  end if;
  if reason is not null and pg_catalog.length(reason) > 1000 then
    raise exception 'cancel reason must be at most 1000 characters, got %', pg_catalog.length(reason) using errcode = 'JD004';
  end if;
  -- Lock order: the organisation and the limits first (release_held below), then the row.
  perform jobdeck_private.lock_orgs(jobdeck_private.capped_orgs(array[job_id]));
  v_keys := jobdeck_private.limit_keys(array[job_id]);
  perform jobdeck_private.lock_limits(v_keys);
  select * into v_job from jobdeck.jobs j where j.id = cancel_job.job_id for update;
  if not found then
    raise exception 'job % not found', job_id using errcode = 'JD010';
  end if;
  if v_job.status = 'cancelled' then
    return v_job;
  elsif v_job.status in ('succeeded', 'failed') then
    raise exception 'job % is % and cannot be cancelled: only queued, retrying or running jobs can', job_id, v_job.status
      using errcode = 'JD011', detail = pg_catalog.json_build_object('status', v_job.status)::pg_catalog.text;
  elsif v_job.status = 'running' then
    if v_job.cancel_requested_at is null then
      update jobdeck.jobs j set cancel_requested_at = pg_catalog.now(), cancel_reason = reason, updated_at = pg_catalog.now()
       where j.id = v_job.id returning j.* into v_job;
      insert into jobdeck.job_events (job_id, kind, level, message, attempt)
      values (v_job.id, 'control', 'info', 'cancel requested' || coalesce(': ' || reason, ''), v_job.attempts);
    end if;
    -- Sent again on a repeated cancel, in case the first was missed (workers also poll).
    perform jobdeck_private.notify_jobs('cancel', array[v_job.id]);
    return v_job;
  end if;
  -- queued or retrying: out of Graphile Worker's queue now. A Graphile job already fetched by a
  -- worker stays (complete_jobs leaves locked jobs): that worker is hinted on the cancel channel,
  -- reads the row instead of starting from the job's start data (start/graphile_payload.sql), and
  -- skips it; one that started it meanwhile aborts it, as its running mark or its finish would.
  if v_job.gw_job_id is not null
     and not exists (select 1 from graphile_worker.complete_jobs(array[v_job.gw_job_id])) then
    -- and should the worker give it back unstarted (a shutdown returns its local queue), the
    -- next fetch finds no start data and reads the row
    perform jobdeck_private.forget_start_data(array[v_job.gw_job_id]);
    perform jobdeck_private.notify_jobs('cancel', array[v_job.id]);
  end if;
  update jobdeck.jobs j
     set status = 'cancelled', finished_at = pg_catalog.now(), cancel_requested_at = pg_catalog.now(), cancel_reason = reason,
         held_at = null, held_reason = null, eta_at = null, updated_at = pg_catalog.now()
   where j.id = v_job.id returning j.* into v_job;
  if v_job.org_id is not null or v_keys is not null then
    perform jobdeck_private.release_held(array[v_job.org_id], v_keys);
  end if;
  return v_job;
end;
$$;
comment on function jobdeck_private.cancel_job is
  'Cancel a job: queued/retrying at once, running through its worker (ctx.signal aborts). Errors: JD010 not found, JD011 already finished.';
revoke all on function jobdeck_private.cancel_job(job_id uuid, reason text) from public;
