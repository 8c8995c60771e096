-- jobdeck.wait_reason(held_at, held_reason): why a waiting job is kept back, as one word.
--
-- The one classification of `held_reason` (issue 20, item 5), for jobStats (sql/api/job_stats.sql)
-- and `/metrics` (src/jobs/monitoring.ts): `paused` (a pause), `org_limit` (an organisation's
-- concurrency cap), `key_limit` (a per-key concurrency limit), `concurrency_limit` (a task type's
-- or queue's), `rate_limit` (put back by a rate limit until its slot), `task_rate_limit` (its task
-- said "rate limited", RateLimitedError); null for a job nothing keeps back. The texts are those
-- start_jobs, admit_jobs, admit_keyed, admit_rated and the pauses write. Language sql without
-- settings, so it is inlined into the queries that call it. Not exposed by GraphQL
-- (src/graphql/schema-plugins.ts lists the functions it exposes).

create or replace function jobdeck.wait_reason(held_at timestamptz, held_reason text) returns text
language sql immutable parallel safe
as $$
  select case
           when held_at is not null and held_reason like 'paused:%' then 'paused'
           when held_at is not null and held_reason like 'held: organisation %' then 'org_limit'
           when held_at is not null and held_reason like 'held: task type % concurrency limit for key %' then 'key_limit'
           when held_at is not null then 'concurrency_limit'
           when held_reason like 'rate limited:%' then 'rate_limit'
           when held_reason like 'rate limited by the task%' then 'task_rate_limit'
         end
$$;
comment on function jobdeck.wait_reason(timestamptz, text) is
  'Why a waiting job is kept back: paused, org_limit, key_limit, concurrency_limit, rate_limit, task_rate_limit, or null.';
revoke all on function jobdeck.wait_reason(held_at timestamptz, held_reason text) from public;
grant execute on function jobdeck.wait_reason(held_at timestamptz, held_reason text)
  to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
