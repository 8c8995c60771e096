-- jobdeck 000017: durable steps, sleep and waitFor (issue 21, items 1 and 2).
--
-- `job_steps` holds one row per named step of a job: written when the step's function returns
-- (before the next step starts), read once at the start of each attempt, so a job that runs again
-- (retry, crash rescue, manual retry keeping its steps) returns a completed step's stored result
-- instead of running it. A `sleep` or `wait` step is written when it starts (completed_at null,
-- `wake_at` the time it ends or times out): the job is parked (back to `queued` with run_at =
-- wake_at, its attempt unspent) and completes the step when it runs again at that time, or when a
-- signal arrives. `job_signals` keeps signals (`jobdeck.signal`) until a `waitFor` consumes them.
-- `jobdeck.retry_job` / `jobdeck_private.retry_job` gain `keep_steps` (sql/api/retry_job.sql,
-- sql/control/retry_job.sql): the old one-argument functions are dropped here and recreated by
-- those files with the new parameter, defaulting to true.
--
-- Renumber at merge if another branch took 000017 first: the runner wants numbers without gaps.

create table jobdeck.job_steps (
  job_id       uuid not null references jobdeck.jobs (id) on delete cascade,
  name         text not null constraint name_length check (length(name) between 1 and 200),
  position     integer not null constraint position_in_range check (position >= 0),
  kind         text not null default 'run' constraint kind_known check (kind in ('run', 'sleep', 'wait')),
  result       jsonb,
  attempt      integer not null,
  started_at   timestamptz not null default now(),
  completed_at timestamptz,
  wake_at      timestamptz,
  wait_event   text,
  timed_out    boolean not null default false,
  primary key (job_id, name),
  constraint wait_has_event check ((kind = 'wait') = (wait_event is not null))
);
comment on table jobdeck.job_steps is
  E'@behavior -insert -update -delete -query:resource:list -query:resource:connection -single\nThe durable steps of each job: a completed step''s stored result is returned instead of running it again.';
comment on constraint job_steps_job_id_fkey on jobdeck.job_steps is
  E'@behavior -*';
comment on column jobdeck.job_steps.result is 'The JSON the step''s function returned (run), the signal''s data (wait); null for sleep.';
comment on column jobdeck.job_steps.wake_at is 'sleep: when it ends; wait: when it times out. Set while the job is parked on it.';

create table jobdeck_private.job_signals (
  id           bigint generated always as identity primary key,
  job_id       uuid not null references jobdeck.jobs (id) on delete cascade,
  event        text not null constraint event_length check (length(event) between 1 and 200),
  data         jsonb,
  at           timestamptz not null default now(),
  consumed_at  timestamptz,
  consumed_by  text
);
create index job_signals_waiting_idx on jobdeck_private.job_signals (job_id, event, id) where consumed_at is null;
comment on table jobdeck_private.job_signals is
  'Signals sent to jobs (jobdeck.signal), kept until a waitFor of the same event consumes them.';

-- Steps follow their job, like job_events: the subquery is itself filtered by the jobs policies.
alter table jobdeck.job_steps enable row level security;
alter table jobdeck_private.job_signals enable row level security;
grant select on jobdeck.job_steps to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
create policy job_steps_select on jobdeck.job_steps for select to jobdeck_user, jobdeck_admin
  using (exists (select 1 from jobdeck.jobs j where j.id = job_steps.job_id));
create policy job_steps_select_system on jobdeck.job_steps for select to jobdeck_system using (true);

drop function jobdeck.retry_job(id uuid);
drop function jobdeck_private.retry_job(job_id uuid);
