-- jobdeck 000021: job dependencies (issue 21, item 3).
--
-- A job enqueued with `depends_on` (ids of existing jobs) is `waiting`: it has no Graphile job,
-- so no worker polls for it, until every job it depends on has succeeded; then it is queued and
-- handed to Graphile Worker in the transaction that finished its last dependency
-- (sql/dependencies/). When a dependency fails for good or is cancelled, the dependant's
-- `on_dependency_failure` decides: `cancel` (the default; transitively) or `run` (it runs once
-- every dependency has finished, whatever the outcome).
--
-- The edges live on the dependant's row (`depends_on uuid[]`, written once at enqueue), found
-- from the parent's side through a partial GIN index: one row write per dependant, no second
-- table to keep in step, and the row shows what it depends on. A parent gets `has_dependants`
-- set when the first dependant names it, so the finish of a job without dependants (the hot
-- path) does no lookup at all: the settle trigger returns after one scan of its transition table.

alter table jobdeck.jobs drop constraint status_is_known;
alter table jobdeck.jobs add constraint status_is_known
  check (status in ('waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled', 'retrying'));

alter table jobdeck.jobs add column depends_on uuid[];
alter table jobdeck.jobs add column on_dependency_failure text;
alter table jobdeck.jobs add column has_dependants boolean not null default false;
alter table jobdeck.jobs add constraint depends_on_size
  check (depends_on is null or cardinality(depends_on) between 1 and 1000);
alter table jobdeck.jobs add constraint on_dependency_failure_is_known
  check ((depends_on is null and on_dependency_failure is null)
         or (depends_on is not null and on_dependency_failure in ('cancel', 'run')));
comment on column jobdeck.jobs.depends_on is
  'The jobs this job waits for (enqueued with dependsOn): it runs once all of them have succeeded.';
comment on column jobdeck.jobs.on_dependency_failure is
  'What happens when a dependency fails or is cancelled: cancel (this job is cancelled too) or run (it runs once every dependency has finished).';
comment on column jobdeck.jobs.has_dependants is 'Whether some job depends on this one.';

-- Dependants of a job: `depends_on && array[parent]`.
create index jobs_depends_on_idx on jobdeck.jobs using gin (depends_on) where depends_on is not null;

-- The active-jobs read covers waiting jobs too.
drop index jobdeck.jobs_active_idx;
create index jobs_active_idx on jobdeck.jobs (created_at desc, id)
  where status in ('waiting', 'queued', 'running', 'retrying');
