-- jobdeck 000014: attempt numbers unique over a job's whole life (issue 19, consistency item 3).
--
-- A manual retry (jobdeck_private.retry_job) used to set `attempts` back to 0, so the retried
-- job's failures were recorded as attempt 1, 2, … again, in `errors` and `job_events.attempt`.
-- Now `attempts` counts every attempt the job ever started and never goes back; a retry records
-- how many were spent before it in `attempts_before_retry`, and the attempt budget is
-- `attempts - attempts_before_retry < max_attempts` (sql/worker/finish_jobs.sql,
-- rescue_workers.sql). Existing rows keep their numbers (a job retried before this migration may
-- still have repeated numbers in its history).
--
-- Renumber at merge if another branch took 000014 first: the runner wants numbers without gaps.

alter table jobdeck.jobs add column attempts_before_retry integer not null default 0
  constraint attempts_before_retry_in_range check (attempts_before_retry between 0 and attempts);
comment on column jobdeck.jobs.attempts_before_retry is
  'Attempts spent before the last manual retry: the current budget''s attempts are attempts - attempts_before_retry, out of max_attempts.';
