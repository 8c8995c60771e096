-- jobdeck.signal(target, event, data): sends a signal to a job; wakes it when it waits for the event.
--
-- `target` is a job id, or the key of an unfinished job (an id wins when both could match). The
-- signal is stored (jobdeck_private.job_signals) until a `ctx.waitFor(event)` of the job consumes
-- it, so a signal sent before the job starts waiting is not lost. When the job is parked on a
-- wait for this event (a `wait` step not completed), it is re-queued to run at once. The job row
-- is locked first, so a signal and a worker parking the job cannot miss each other
-- (finish_jobs re-queues a job parked while an unconsumed signal for its wait was committed).
-- For trusted callers only (TypeScript, SQL triggers, the CLI): not exposed to GraphQL.
--
-- plan_cache_mode: its statements are planned once per connection (migration 000007,
-- docs/performance.md); no plan depends on a parameter's value.

create or replace function jobdeck.signal(target text, event text, data jsonb default null) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_job jobdeck.jobs;
begin
  if target is null or target = '' then
    raise exception 'a job id or key is required' using errcode = 'JD004';
  end if;
  if event is null or length(event) not between 1 and 200 then
    raise exception 'event must be a non-empty string of at most 200 characters' using errcode = 'JD004';
  end if;
  if target ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    select * into v_job from jobdeck.jobs j where j.id = target::uuid for update;
  end if;
  if v_job.id is null then
    select * into v_job from jobdeck.jobs j
     where j.key = target and j.status in ('queued', 'running', 'retrying') for update;
  end if;
  if v_job.id is null then
    raise exception 'no job with id or unfinished job with key "%"', target using errcode = 'JD010';
  end if;
  if v_job.status in ('succeeded', 'failed', 'cancelled') then
    raise exception 'job % is % and waits for no signal', v_job.id, v_job.status
      using errcode = 'JD011', detail = json_build_object('status', v_job.status)::text;
  end if;
  insert into jobdeck_private.job_signals (job_id, event, data) values (v_job.id, signal.event, signal.data);
  if v_job.status in ('queued', 'retrying') and v_job.run_at > now()
     and exists (select 1 from jobdeck.job_steps s
                  where s.job_id = v_job.id and s.kind = 'wait' and s.completed_at is null
                    and s.wait_event = signal.event) then
    update jobdeck.jobs j set run_at = now(), updated_at = now() where j.id = v_job.id;
    if v_job.gw_job_id is not null then
      perform graphile_worker.reschedule_jobs(array[v_job.gw_job_id], run_at => now());
    end if;
  end if;
  return v_job.id;
end;
$$;
comment on function jobdeck.signal(text, text, jsonb) is
  'Send a signal (event, data) to a job by id or key; a job parked in waitFor(event) is woken at once. Errors: JD004, JD010, JD011.';
revoke all on function jobdeck.signal(target text, event text, data jsonb) from public;
grant execute on function jobdeck.signal(target text, event text, data jsonb) to jobdeck_system;
