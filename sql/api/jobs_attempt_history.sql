-- jobdeck.jobs_attempt_history(job): GraphQL's Job.attemptHistory.
-- requires: api/jobs_errors.sql
--
-- One row per attempt, from the job's transition events: when it started and ended, how, and
-- the error it failed with, its stack only for admins (jobdeck.jobs_errors). Reads with the
-- caller's rights.
--
-- Inlined into its callers' queries, so no `set search_path` (a SET clause stops inlining):
-- every function it calls is schema-qualified and every operator has operands of exact types
-- (docs/security.md).

create or replace function jobdeck.jobs_attempt_history(job jobdeck.jobs) returns setof jobdeck.job_attempt
language sql stable
as $$
  with t as (
    -- every transition into running opens an attempt (n counts them), and so does the end of an
    -- attempt never marked running, which carries its start (events/tg_jobs__after_update.sql)
    select e.id, e.at, e.attempt, e.message, e.data ->> 'to' as to_status,
           case when e.data ->> 'to' = 'running' then e.at
                when e.data ? 'startedAt' then (e.data ->> 'startedAt')::timestamptz end as opened_at,
           count(*) filter (where e.data ->> 'to' = 'running' or e.data ? 'startedAt') over (order by e.id) as n
      from jobdeck.job_events e
     where e.job_id = job.id and e.kind = 'transition'
  ), attempts as (
    select t.n,
           min(t.opened_at) as started_at,
           min(t.attempt) filter (where t.opened_at is not null) as attempt,
           (array_agg(t.at order by t.id) filter (where t.to_status <> 'running'))[1] as ended_at,
           (array_agg(t.to_status order by t.id) filter (where t.to_status <> 'running'))[1] as ended_as,
           (array_agg(t.message order by t.id) filter (where t.to_status <> 'running'))[1] as message
      from t where t.n > 0 group by t.n
  ), spans as (
    select a.*, lead(a.started_at) over (order by a.n) as next_started_at from attempts a
  )
  select s.attempt, s.started_at,
         coalesce(s.ended_at, s.next_started_at),
         case
           when s.ended_as is null and s.next_started_at is not null then 'interrupted'
           when s.ended_as is null then 'running'
           when s.ended_as = 'queued' then 'interrupted'
           else s.ended_as
         end,
         coalesce(s.message, case when s.next_started_at is not null then 'the worker was lost; rescued' end),
         (select e from pg_catalog.jsonb_array_elements(jobdeck.jobs_errors(job)) e
           where (e ->> 'attempt')::integer = s.attempt
             and (e ->> 'at')::timestamptz >= s.started_at
             and (e ->> 'at')::timestamptz <= coalesce(s.ended_at, s.next_started_at, 'infinity')
           order by (e ->> 'at')::timestamptz limit 1)
    from spans s
   order by s.n
$$;
comment on function jobdeck.jobs_attempt_history(jobdeck.jobs) is
  'Every attempt of this job, oldest first, with its outcome and error (message; the stack for admins only).';
revoke all on function jobdeck.jobs_attempt_history(job jobdeck.jobs) from public;
grant execute on function jobdeck.jobs_attempt_history(job jobdeck.jobs) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
