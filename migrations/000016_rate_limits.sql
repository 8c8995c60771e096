-- jobdeck 000016: rate limits, and concurrency limits per key (issue 20, items 2 and 3).
--
-- Rate limits: "at most max_starts starts per period" of a task type (scope type; defineTask
-- rateLimit) or a queue (scope queue; jobdeck.set_queue_rate_limit), enforced by start_jobs across
-- every worker. A type's limit may apply per key (`key_spec`: org, owner or payload:<path>): each
-- key then has a budget of its own. The algorithm is GCRA with no burst (docs/recipes.md): one
-- row per (limit, key) in rate_buckets holding `tat`, the earliest time the next start is allowed;
-- a start at `now` is admitted when tat <= now and moves tat to greatest(tat, now) + period /
-- max_starts. A bucket row whose tat has passed means the same as no row.
--
-- Concurrency per key: a task type's `key_concurrency` jobs may run at once per key
-- (`concurrency_key_spec`), generalising org_concurrency to any key.
--
-- A job's keys are computed when it is enqueued (jobdeck_private.job_limit_keys) and kept on its
-- row (concurrency_key, rate_key), so a limit never re-reads payloads. `held_reason` says why a
-- waiting job is not running (held by a concurrency limit, or put back by a rate limit);
-- `rate_deferrals` counts the times its task said "rate limited, retry after" (bounded).
--
-- Renumber at merge if needed: written beside other branches' 000015 and 000017.

create table jobdeck_private.rate_limits (
  scope      text not null constraint rate_scope_is_known check (scope in ('type', 'queue')),
  name       text not null constraint rate_name_not_empty check (length(name) between 1 and 128),
  max_starts integer not null constraint max_starts_in_range check (max_starts between 1 and 1000000),
  period     interval not null
             constraint period_in_range check (period >= interval '1 millisecond' and period <= interval '31 days'),
  key_spec   text constraint key_spec_is_known
             check (key_spec is null or key_spec in ('org', 'owner') or key_spec ~ '^payload:[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$'),
  updated_at timestamptz not null default now(),
  primary key (scope, name),
  constraint key_spec_for_types check (key_spec is null or scope = 'type')
);
comment on table jobdeck_private.rate_limits is
  'At most max_starts jobs of a task type (scope type; defineTask rateLimit) or a queue (scope queue; jobdeck.set_queue_rate_limit) start per period, across all workers; per key when key_spec is set.';
alter table jobdeck_private.rate_limits enable row level security;

create table jobdeck_private.rate_buckets (
  scope text not null,
  name  text not null,
  key   text not null default '',
  tat   timestamptz not null,
  primary key (scope, name, key),
  foreign key (scope, name) references jobdeck_private.rate_limits (scope, name) on delete cascade
);
comment on table jobdeck_private.rate_buckets is
  'GCRA state of each rate limit (and key): tat is the earliest time its next job may start.';
alter table jobdeck_private.rate_buckets enable row level security;

alter table jobdeck_private.task_types
  add column key_concurrency integer constraint key_concurrency_positive check (key_concurrency >= 1),
  add column concurrency_key_spec text constraint concurrency_key_spec_is_known
    check (concurrency_key_spec is null or concurrency_key_spec in ('org', 'owner')
           or concurrency_key_spec ~ '^payload:[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$'),
  add constraint key_concurrency_has_key check ((key_concurrency is null) = (concurrency_key_spec is null));

alter table jobdeck.jobs
  add column if not exists held_reason text,
  add column concurrency_key text,
  add column rate_key text,
  add column rate_deferrals integer not null default 0 constraint rate_deferrals_not_negative check (rate_deferrals >= 0);
comment on column jobdeck.jobs.held_reason is
  'Why a waiting job is not running: the concurrency limit that holds it, or the rate limit that put it back (and until when).';
comment on column jobdeck.jobs.concurrency_key is
  'The job''s key under its task type''s per-key concurrency limit (defineTask concurrency.key), computed at enqueue.';
comment on column jobdeck.jobs.rate_key is
  'The job''s key under its task type''s per-key rate limit (defineTask rateLimit.key), computed at enqueue.';
comment on column jobdeck.jobs.rate_deferrals is
  'Times the job''s task said "rate limited, retry after" (RateLimitedError): not attempts; bounded.';

-- Running jobs per type and key: what admission counts under a per-key concurrency limit.
create index jobs_running_concurrency_key_idx on jobdeck.jobs (type, concurrency_key)
  where status = 'running' and concurrency_key is not null;
