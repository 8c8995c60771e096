-- jobdeck 000013: concurrency limits per task type and per queue, across every worker process
-- (issue 19, items 2 and 3).
--
-- One row per limited thing: `scope` says what the key names (a task type or a queue), and
-- `max_running` how many of its jobs may be `running` at once. Rows, not settings in a process,
-- so every worker sees the same limits and they survive restarts. start_jobs admits a job only
-- under the limit's advisory lock and holds the others (held_at), as the organisation cap does
-- (sql/concurrency/). Further scopes (a key expression), a pause or a rate are meant to become
-- more scopes and columns of this table.
--
-- Renumber at merge if needed: this branch was written beside another's 000013.

create table jobdeck_private.concurrency_limits (
  scope       text not null constraint scope_is_known check (scope in ('type', 'queue')),
  key         text not null constraint key_not_empty check (length(key) between 1 and 128),
  max_running integer not null constraint max_running_positive check (max_running >= 1),
  updated_at  timestamptz not null default now(),
  primary key (scope, key)
);
comment on table jobdeck_private.concurrency_limits is
  'At most max_running jobs of a task type (scope type; defineTask maxConcurrent) or a queue (scope queue; jobdeck.set_queue_concurrency) run at once, across all workers.';
alter table jobdeck_private.concurrency_limits enable row level security;

-- Running jobs per type and per queue: what start_jobs counts under a limit.
create index jobs_running_type_idx on jobdeck.jobs (type) where status = 'running';
create index jobs_running_queue_idx on jobdeck.jobs (queue) where status = 'running' and queue is not null;
