-- jobdeck 000018: fair turns between tenants (issue 20, item 4).
--
-- A fair job's Graphile job gets, instead of its real run time, its *turn*: a time in the past
-- that Graphile Worker's claim order (priority, run_at) serves in turn order. Each tenant (the
-- organisation; jobs without one form one tenant) takes turns per priority: a new job's turn is
-- one quantum after its tenant's last turn, but never before the head of the queue (the oldest
-- runnable Graphile job of that priority), so a tenant with 10 jobs interleaves with one that has
-- 100,000 waiting instead of queueing behind them (sql/fairness/fair_turns.sql, docs/recipes.md).
-- jobdeck.jobs.run_at stays the time users asked for.
--
-- Renumber at merge if needed: 000015 and 000016 were taken by branches written beside this one.

-- The turn a fair job was given (its Graphile job's run_at); null for a job that was not given
-- one (fairness off, a delay, a retry). A tenant's next turn follows its latest.
alter table jobdeck.jobs add column fair_at timestamptz;
comment on column jobdeck.jobs.fair_at is E'@behavior -*\nThe turn a fair job was given: its Graphile job''s run_at. Null when it was not given one.';
-- By coalesce(org_id, ''), not org_id: `org_id is null` is no equality to the planner, so it would
-- not read max(fair_at) of the jobs without an organisation from the index's end (a scan of all
-- of them instead). Jobs without an organisation and those of an organisation '' share a tenant.
create index jobs_fair_turn_idx on jobdeck.jobs ((coalesce(org_id, '')), priority, fair_at) where fair_at is not null;

-- Per task type (defineTask({ fairness })): 'org' takes turns by organisation, 'off' is plain
-- first-in first-out; null is the default ('org').
alter table jobdeck_private.task_types
  add column fairness text constraint fairness_is_known check (fairness in ('org', 'off'));

-- Per queue, at run time (jobdeck.set_queue_fairness): wins over the task type's setting.
create table jobdeck_private.queue_fairness (
  queue      text primary key constraint queue_not_empty check (length(queue) between 1 and 128),
  fairness   text not null constraint fairness_is_known check (fairness in ('org', 'off')),
  updated_at timestamptz not null default now()
);
comment on table jobdeck_private.queue_fairness is
  'Whether jobs of a queue take turns by organisation (org) or run first-in first-out (off); wins over the task type''s defineTask fairness.';
alter table jobdeck_private.queue_fairness enable row level security;

-- Weighted turns: an organisation of weight w gets w turns for every one of an organisation of
-- weight 1 (jobdeck.set_org_weight). Organisations without a row have weight 1.
create table jobdeck_private.org_weights (
  org_id     text primary key constraint org_id_not_empty check (length(org_id) between 1 and 256),
  weight     integer not null constraint weight_in_range check (weight between 1 and 10),
  updated_at timestamptz not null default now()
);
comment on table jobdeck_private.org_weights is
  'Weighted fair turns: an organisation of weight w (1 to 10) gets w turns for each turn of an organisation of weight 1.';
alter table jobdeck_private.org_weights enable row level security;
