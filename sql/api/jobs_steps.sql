-- jobdeck.jobs_steps(job): the job's durable steps, in order; GraphQL's Job.steps.
--
-- Security invoker: job_steps' row-level security shows a caller the steps of the jobs they may
-- see, whatever row they pass in. Each entry: {name, position, kind, result, attempt, startedAt,
-- completedAt, wakeAt, waitEvent, timedOut}; a step without completedAt is a sleep or wait the job
-- is parked on (or was when it last ran).

create or replace function jobdeck.jobs_steps(job jobdeck.jobs) returns jsonb
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'name', s.name, 'position', s.position, 'kind', s.kind, 'result', s.result,
           'attempt', s.attempt, 'startedAt', s.started_at, 'completedAt', s.completed_at,
           'wakeAt', s.wake_at, 'waitEvent', s.wait_event, 'timedOut', s.timed_out)
           order by s.position, s.started_at), '[]'::jsonb)
    from jobdeck.job_steps s
   where s.job_id = job.id
$$;
comment on function jobdeck.jobs_steps(jobdeck.jobs) is
  'The job''s durable steps in order ({name, position, kind, result, attempt, startedAt, completedAt, wakeAt, waitEvent, timedOut}).';
revoke all on function jobdeck.jobs_steps(job jobdeck.jobs) from public;
grant execute on function jobdeck.jobs_steps(job jobdeck.jobs) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
