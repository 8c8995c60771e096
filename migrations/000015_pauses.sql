-- jobdeck 000015: pausing a queue, a task type or everything, across every worker process
-- (issue 20, item 1).
--
-- One row per pause: `scope` says what `key` names (a queue, a task type; '' for everything).
-- Rows, so every worker sees the same pauses and they survive restarts. start_jobs refuses a paused
-- job through admit_jobs (sql/concurrency/) and holds it, as a concurrency cap does; resuming
-- releases it (sql/pauses/). A table of its own rather than `max_running = 0` in
-- concurrency_limits: a pause has its own columns (reason, who, when), applies to everything as
-- well, and a queue can be paused and limited at once without one setting overwriting the other.
--
-- jobs.held_reason says why a held job (held_at set) waits: the `held:` or `paused:` text its
-- event also carries, readable on the row by the API and counted by job_stats.

create table jobdeck_private.pauses (
  scope     text not null constraint scope_is_known check (scope in ('queue', 'type', 'all')),
  key       text not null,
  reason    text constraint reason_length check (length(reason) between 1 and 1000),
  paused_by text constraint paused_by_length check (length(paused_by) between 1 and 200),
  paused_at timestamptz not null default now(),
  primary key (scope, key),
  constraint key_fits_scope check ((scope = 'all' and key = '') or (scope <> 'all' and length(key) between 1 and 128))
);
comment on table jobdeck_private.pauses is
  'Paused queues (scope queue), task types (scope type) and everything (scope all, key ''''): their jobs stay queued and none starts, on any worker, until the row is deleted (jobdeck.resume_*).';
alter table jobdeck_private.pauses enable row level security;

alter table jobdeck.jobs add column held_reason text;
comment on column jobdeck.jobs.held_reason is
  'Why the job is held (when held_at is set): "held: …" for a concurrency limit, "paused: …" for a pause.';
