-- jobdeck 000001: the tracked-jobs schema.
-- `jobdeck` is the public API schema (the only one PostGraphile will see); `jobdeck_private` holds
-- internals. Graphile Worker's own schema is migrated by Graphile Worker.

create schema if not exists jobdeck;
create schema if not exists jobdeck_private;

-- Job states (docs/job-states.md has the diagram):
--   queued → running → succeeded | failed | retrying → running …; queued/retrying/running → cancelled
create table jobdeck.jobs (
  id                  uuid primary key default gen_random_uuid(),
  type                text not null
    constraint type_is_valid check (type ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  queue               text
    constraint queue_is_valid check (queue is null or length(queue) between 1 and 128),
  status              text not null default 'queued'
    constraint status_is_known check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'retrying')),
  priority            integer not null default 0
    constraint priority_in_range check (priority between -32768 and 32767),
  progress            smallint not null default 0
    constraint progress_in_range check (progress between 0 and 100),
  current_step        text
    constraint current_step_length check (length(current_step) <= 200),
  total_steps         integer
    constraint total_steps_not_negative check (total_steps >= 0),
  completed_steps     integer not null default 0
    constraint completed_steps_not_negative check (completed_steps >= 0),
  payload             jsonb not null default '{}',
  result              jsonb,
  -- one entry per failed attempt: {at, attempt, message, stack, code?, kind?}
  errors              jsonb not null default '[]'
    constraint errors_is_array check (jsonb_typeof(errors) = 'array'),
  attempts            integer not null default 0
    constraint attempts_not_negative check (attempts >= 0),
  max_attempts        integer not null default 3
    constraint max_attempts_in_range check (max_attempts between 1 and 32767),
  run_at              timestamptz not null default now(),
  created_at          timestamptz not null default now(),
  started_at          timestamptz,
  finished_at         timestamptz,
  updated_at          timestamptz not null default now(),
  heartbeat_at        timestamptz,
  owner_id            text
    constraint owner_id_length check (length(owner_id) between 1 and 200),
  org_id              text
    constraint org_id_length check (length(org_id) between 1 and 200),
  related_type        text
    constraint related_type_length check (length(related_type) between 1 and 100),
  related_id          text
    constraint related_id_length check (length(related_id) between 1 and 200),
  key                 text
    constraint key_length check (length(key) between 1 and 512),
  metadata            jsonb not null default '{}',
  cancel_requested_at timestamptz,
  cancel_reason       text,
  worker_id           text,
  -- Graphile Worker's job id of the current attempt (its rows are deleted once a job finishes).
  gw_job_id           bigint,
  -- Estimated completion, from the progress rate of the running attempt.
  eta_at              timestamptz,
  -- Resource figures of the last attempt, measured by the worker process.
  peak_rss_bytes      bigint,
  cpu_ms              bigint,
  constraint finished_has_time check ((status in ('succeeded', 'failed', 'cancelled')) = (finished_at is not null))
) with (fillfactor = 80);

comment on table jobdeck.jobs is 'Every job jobdeck knows of, from enqueue to its end; the history.';

-- The active-jobs read: unfinished jobs only, so it stays small however long the history grows.
create index jobs_active_idx on jobdeck.jobs (created_at desc, id)
  where status in ('queued', 'running', 'retrying');
-- A user's or an org's recent jobs, and history pages (keyset on created_at, id).
create index jobs_owner_created_idx on jobdeck.jobs (owner_id, created_at desc, id);
create index jobs_org_created_idx on jobdeck.jobs (org_id, created_at desc, id);
create index jobs_created_idx on jobdeck.jobs (created_at desc, id);
create index jobs_type_created_idx on jobdeck.jobs (type, created_at desc, id);
-- Pruning walks finished jobs by age.
create index jobs_finished_idx on jobdeck.jobs (finished_at)
  where status in ('succeeded', 'failed', 'cancelled');
-- Dedupe: one unfinished job per key.
create unique index jobs_key_active_idx on jobdeck.jobs (key)
  where key is not null and status in ('queued', 'running', 'retrying');
-- Jobs added straight to Graphile Worker get their row on first run, found again by this id.
create unique index jobs_gw_job_id_idx on jobdeck.jobs (gw_job_id) where gw_job_id is not null;

create table jobdeck.job_events (
  id       bigint generated always as identity primary key,
  job_id   uuid not null references jobdeck.jobs (id) on delete cascade,
  at       timestamptz not null default now(),
  kind     text not null default 'log'
    constraint kind_is_known check (kind in ('log', 'transition')),
  level    text not null default 'info'
    constraint level_is_known check (level in ('debug', 'info', 'warn', 'error')),
  message  text not null
    constraint message_length check (length(message) <= 10000),
  data     jsonb,
  step     text,
  attempt  integer
);
create index job_events_job_idx on jobdeck.job_events (job_id, id);

comment on table jobdeck.job_events is 'Log lines written by tasks and the status transitions of each job.';

-- Task types known to the workers: registered from tasks/ by `jobdeck migrate`, `start` and `worker`.
create table jobdeck_private.task_types (
  type              text primary key,
  payload_schema    jsonb,
  max_attempts      integer not null default 3,
  max_payload_bytes integer not null default 1048576,
  description       text,
  updated_at        timestamptz not null default now()
);

-- Channel names are at most 63 bytes; long ids are hashed so every channel stays valid.
create function jobdeck.channel_name(kind text, id text) returns text
language sql immutable parallel safe as $$
  select case
    when octet_length('jobdeck:' || kind || ':' || id) <= 63 then 'jobdeck:' || kind || ':' || id
    else 'jobdeck:' || kind || ':#' || md5(id)
  end
$$;

-- Announce every visible change in the same transaction that makes it: tiny payloads, listeners re-read.
-- Statement-level with transition tables so a batched update announces once per row without a
-- trigger call per row, and records transitions as job events in one insert.
create function jobdeck_private.tg_jobs__after_insert() returns trigger
language plpgsql as $$
begin
  perform pg_notify(jobdeck.channel_name(c.kind, c.id), r.message)
  from (
    select n.id, n.owner_id, n.org_id,
           jsonb_build_object('id', n.id, 'status', n.status, 'progress', n.progress)::text as message
    from new_rows n
  ) r
  cross join lateral (values ('job', r.id::text), ('owner', r.owner_id), ('org', r.org_id)) as c(kind, id)
  where c.id is not null;

  insert into jobdeck.job_events (job_id, kind, level, message, attempt)
  select n.id, 'transition', 'info',
         case when n.status = 'running' then 'running (attempt ' || n.attempts || ')' else n.status end,
         n.attempts
  from new_rows n;
  return null;
end;
$$;

create function jobdeck_private.tg_jobs__after_update() returns trigger
language plpgsql as $$
begin
  perform pg_notify(jobdeck.channel_name(c.kind, c.id), r.message)
  from (
    select n.id, n.owner_id, n.org_id,
           jsonb_build_object('id', n.id, 'status', n.status, 'progress', n.progress)::text as message
    from new_rows n join old_rows o on o.id = n.id
    where (n.status, n.progress, n.current_step, n.completed_steps, n.total_steps, n.attempts, n.cancel_requested_at)
      is distinct from
          (o.status, o.progress, o.current_step, o.completed_steps, o.total_steps, o.attempts, o.cancel_requested_at)
  ) r
  cross join lateral (values ('job', r.id::text), ('owner', r.owner_id), ('org', r.org_id)) as c(kind, id)
  where c.id is not null;

  insert into jobdeck.job_events (job_id, kind, level, message, data, attempt)
  select n.id, 'transition',
         case n.status when 'failed' then 'error' when 'retrying' then 'warn' else 'info' end,
         case
           when n.status in ('failed', 'retrying') and jsonb_array_length(n.errors) > 0
             then n.status || ': ' || left(n.errors -> -1 ->> 'message', 500)
           when n.status = 'running' and o.status = 'running' then 'running (attempt ' || n.attempts || ', rescued)'
           when n.status = 'running' then 'running (attempt ' || n.attempts || ')'
           else n.status
         end,
         jsonb_build_object('from', o.status, 'to', n.status),
         n.attempts
  from new_rows n join old_rows o on o.id = n.id
  where n.status is distinct from o.status
     or (n.status = 'running' and n.attempts is distinct from o.attempts);
  return null;
end;
$$;

create trigger _500_notify_insert after insert on jobdeck.jobs
  referencing new table as new_rows
  for each statement execute function jobdeck_private.tg_jobs__after_insert();
create trigger _500_notify_update after update on jobdeck.jobs
  referencing old table as old_rows new table as new_rows
  for each statement execute function jobdeck_private.tg_jobs__after_update();
