-- jobdeck 000019: batches (issue 21, item 4).
--
-- A batch is many jobs enqueued together with one aggregate progress bar: counts of succeeded,
-- failed and cancelled jobs out of `total`, kept exact in the same transaction as each job's
-- finish (sql/batches/tg_jobs__count_batch.sql), and an optional on-complete job enqueued in the
-- transaction that finishes the last one, with the outcome in its payload.
--
-- Counters on the batch's row rather than a count(*) per read: a live subscriber re-reads on every
-- change, and a 100,000-job batch would cost 100,000 rows per read. The price is that finishes of
-- jobs of one batch take turns on its row (the lock is held from the job's finish to its commit).

create table jobdeck.batches (
  id                  uuid primary key default gen_random_uuid(),
  owner_id            text constraint owner_id_length check (length(owner_id) between 1 and 200),
  org_id              text constraint org_id_length check (length(org_id) between 1 and 200),
  total               integer not null constraint total_positive check (total > 0),
  succeeded           integer not null default 0,
  failed              integer not null default 0,
  cancelled           integer not null default 0,
  on_complete_type    text,
  on_complete_payload jsonb not null default '{}',
  on_complete_job_id  uuid,
  cancel_requested_at timestamptz,
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now(),
  finished_at         timestamptz,
  constraint counts_in_range check (succeeded >= 0 and failed >= 0 and cancelled >= 0
                                    and succeeded + failed + cancelled <= total),
  constraint on_complete_payload_is_object check (jsonb_typeof(on_complete_payload) = 'object')
);
comment on table jobdeck.batches is
  E'@behavior -insert -update -delete\nJobs enqueued together (enqueueBatch): aggregate progress, cancellable as a whole, an optional on-complete job.';
comment on column jobdeck.batches.on_complete_payload is E'@behavior -*\nThe on-complete job''s payload before the outcome is added.';
comment on column jobdeck.batches.total is 'Number of jobs in the batch.';
comment on column jobdeck.batches.succeeded is 'Jobs of the batch that succeeded.';
comment on column jobdeck.batches.failed is 'Jobs of the batch that failed (no attempts left).';
comment on column jobdeck.batches.cancelled is 'Jobs of the batch that were cancelled.';
comment on column jobdeck.batches.on_complete_job_id is 'The job enqueued when the last job of the batch finished.';
comment on column jobdeck.batches.finished_at is 'When the last job of the batch finished.';

alter table jobdeck.jobs add column batch_id uuid;
comment on column jobdeck.jobs.batch_id is 'The batch this job belongs to (enqueueBatch), if any.';
create index jobs_batch_idx on jobdeck.jobs (batch_id, status) where batch_id is not null;

-- Row-level security as for jobs: a user sees their own batches in their organisation, an admin
-- every batch of theirs, jobdeck_system all. Changes go through functions only.
alter table jobdeck.batches enable row level security;
grant select on jobdeck.batches to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
create policy batches_select_own on jobdeck.batches for select to jobdeck_user
  using (owner_id = jobdeck.current_user_id() and org_id = jobdeck.current_org_id()
         and jobdeck.current_user_can('jobs.view_jobs'));
create policy batches_select_org on jobdeck.batches for select to jobdeck_admin
  using (org_id = jobdeck.current_org_id() and jobdeck.current_user_can('jobs.view_jobs'));
create policy batches_select_system on jobdeck.batches for select to jobdeck_system using (true);
