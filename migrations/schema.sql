-- jobdeck schema dump: the jobdeck and jobdeck_private schemas of a migrated database.
-- Written by `npm run schema:dump` (src/db/schema-dump.ts) from pg_catalog; do not edit by hand.
-- A change to this file is a change to the database: it comes with the migration or sql/ file
-- that makes it (docs/sql.md).

-- ================================================================================================
create schema jobdeck;
-- privileges on schema jobdeck: jobdeck_admin=USAGE jobdeck_anonymous=USAGE jobdeck_system=USAGE jobdeck_user=USAGE

create type jobdeck.job_attempt as (
  attempt integer,
  started_at timestamp with time zone,
  finished_at timestamp with time zone,
  outcome text,
  message text,
  error jsonb
);
-- privileges on type jobdeck.job_attempt: public=USAGE
comment on type jobdeck.job_attempt is 'One attempt of a job. outcome: running, succeeded, failed, retrying (failed, will retry), cancelled, interrupted (the worker stopped or was lost).';

create table jobdeck.batches (
  id uuid default gen_random_uuid() not null,
  owner_id text,
  org_id text,
  total integer not null,
  succeeded integer default 0 not null,
  failed integer default 0 not null,
  cancelled integer default 0 not null,
  on_complete_type text,
  on_complete_payload jsonb default '{}'::jsonb not null,
  on_complete_job_id uuid,
  cancel_requested_at timestamp with time zone,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  finished_at timestamp with time zone,
  constraint batches_pkey PRIMARY KEY (id),
  constraint counts_in_range CHECK (((succeeded >= 0) AND (failed >= 0) AND (cancelled >= 0) AND (((succeeded + failed) + cancelled) <= total))),
  constraint on_complete_payload_is_object CHECK ((jsonb_typeof(on_complete_payload) = 'object'::text)),
  constraint org_id_length CHECK (((length(org_id) >= 1) AND (length(org_id) <= 200))),
  constraint owner_id_length CHECK (((length(owner_id) >= 1) AND (length(owner_id) <= 200))),
  constraint total_positive CHECK ((total > 0))
);
alter table jobdeck.batches enable row level security;
CREATE UNIQUE INDEX batches_pkey ON jobdeck.batches USING btree (id);
create policy batches_select_org on jobdeck.batches for select to jobdeck_admin using (((org_id = jobdeck.current_org_id()) AND jobdeck.current_user_can('jobs.view_jobs'::text)));
create policy batches_select_own on jobdeck.batches for select to jobdeck_user using (((owner_id = jobdeck.current_user_id()) AND (org_id = jobdeck.current_org_id()) AND jobdeck.current_user_can('jobs.view_jobs'::text)));
create policy batches_select_system on jobdeck.batches for select to jobdeck_system using (true);
comment on table jobdeck.batches is '@behavior -insert -update -delete
Jobs enqueued together (enqueueBatch): aggregate progress, cancellable as a whole, an optional on-complete job.';
comment on column jobdeck.batches.cancelled is 'Jobs of the batch that were cancelled.';
comment on column jobdeck.batches.failed is 'Jobs of the batch that failed (no attempts left).';
comment on column jobdeck.batches.finished_at is 'When the last job of the batch finished.';
comment on column jobdeck.batches.on_complete_job_id is 'The job enqueued when the last job of the batch finished.';
comment on column jobdeck.batches.on_complete_payload is '@behavior -*
The on-complete job''s payload before the outcome is added.';
comment on column jobdeck.batches.succeeded is 'Jobs of the batch that succeeded.';
comment on column jobdeck.batches.total is 'Number of jobs in the batch.';
-- privileges on table jobdeck.batches: jobdeck_admin=SELECT jobdeck_anonymous=SELECT jobdeck_system=SELECT jobdeck_user=SELECT

create table jobdeck.job_events (
  id bigint generated always as identity not null,
  job_id uuid not null,
  at timestamp with time zone default now() not null,
  kind text default 'log'::text not null,
  level text default 'info'::text not null,
  message text not null,
  data jsonb,
  step text,
  attempt integer,
  constraint job_events_pkey PRIMARY KEY (id),
  constraint kind_is_known CHECK ((kind = ANY (ARRAY['log'::text, 'transition'::text, 'control'::text]))),
  constraint level_is_known CHECK ((level = ANY (ARRAY['debug'::text, 'info'::text, 'warn'::text, 'error'::text]))),
  constraint message_length CHECK ((length(message) <= 10000))
);
alter table jobdeck.job_events enable row level security;
CREATE INDEX job_events_job_idx ON jobdeck.job_events USING btree (job_id, id);
CREATE UNIQUE INDEX job_events_pkey ON jobdeck.job_events USING btree (id);
create policy job_events_select on jobdeck.job_events for select to jobdeck_admin, jobdeck_user using ((EXISTS ( SELECT 1
   FROM jobdeck.jobs j
  WHERE (j.id = job_events.job_id))));
create policy job_events_select_system on jobdeck.job_events for select to jobdeck_system using (true);
comment on table jobdeck.job_events is '@behavior -insert -update -delete -query:resource:list -query:resource:connection -single
@foreignKey (job_id) references jobdeck.jobs (id)|@foreignFieldName events|@fieldName job
Log lines written by tasks and the status transitions of each job.';
-- privileges on table jobdeck.job_events: jobdeck_admin=SELECT jobdeck_anonymous=SELECT jobdeck_system=SELECT jobdeck_user=SELECT

create table jobdeck.job_steps (
  job_id uuid not null,
  name text not null,
  "position" integer not null,
  kind text default 'run'::text not null,
  result jsonb,
  attempt integer not null,
  started_at timestamp with time zone default now() not null,
  completed_at timestamp with time zone,
  wake_at timestamp with time zone,
  wait_event text,
  timed_out boolean default false not null,
  constraint job_steps_pkey PRIMARY KEY (job_id, name),
  constraint kind_known CHECK ((kind = ANY (ARRAY['run'::text, 'sleep'::text, 'wait'::text]))),
  constraint name_length CHECK (((length(name) >= 1) AND (length(name) <= 200))),
  constraint position_in_range CHECK (("position" >= 0)),
  constraint wait_has_event CHECK (((kind = 'wait'::text) = (wait_event IS NOT NULL)))
);
alter table jobdeck.job_steps enable row level security;
CREATE UNIQUE INDEX job_steps_pkey ON jobdeck.job_steps USING btree (job_id, name);
create policy job_steps_select on jobdeck.job_steps for select to jobdeck_admin, jobdeck_user using ((EXISTS ( SELECT 1
   FROM jobdeck.jobs j
  WHERE (j.id = job_steps.job_id))));
create policy job_steps_select_system on jobdeck.job_steps for select to jobdeck_system using (true);
comment on table jobdeck.job_steps is '@behavior -insert -update -delete -query:resource:list -query:resource:connection -single
The durable steps of each job: a completed step''s stored result is returned instead of running it again.';
comment on column jobdeck.job_steps.result is 'The JSON the step''s function returned (run), the signal''s data (wait); null for sleep.';
comment on column jobdeck.job_steps.wake_at is 'sleep: when it ends; wait: when it times out. Set while the job is parked on it.';
-- privileges on table jobdeck.job_steps: jobdeck_admin=SELECT jobdeck_anonymous=SELECT jobdeck_system=SELECT jobdeck_user=SELECT

create table jobdeck.job_templates (
  name text not null,
  type text not null,
  payload_defaults jsonb default '{}'::jsonb not null,
  priority integer,
  queue text,
  max_attempts integer,
  webhook_url text,
  notify_email text[],
  notify_on text[],
  description text,
  org_id text,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint description_length CHECK (((length(description) >= 1) AND (length(description) <= 1000))),
  constraint job_templates_pkey PRIMARY KEY (name),
  constraint max_attempts_in_range CHECK (((max_attempts >= 1) AND (max_attempts <= 32767))),
  constraint name_format CHECK ((name ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'::text)),
  constraint notify_email_count CHECK (((cardinality(notify_email) >= 1) AND (cardinality(notify_email) <= 10))),
  constraint notify_on_known CHECK (((notify_on <@ ARRAY['succeeded'::text, 'failed'::text]) AND (cardinality(notify_on) >= 1))),
  constraint notify_on_needs_email CHECK (((notify_on IS NULL) OR (notify_email IS NOT NULL))),
  constraint org_id_length CHECK (((length(org_id) >= 1) AND (length(org_id) <= 200))),
  constraint payload_defaults_is_object CHECK ((jsonb_typeof(payload_defaults) = 'object'::text)),
  constraint priority_in_range CHECK (((priority >= '-32768'::integer) AND (priority <= 32767))),
  constraint queue_length CHECK (((length(queue) >= 1) AND (length(queue) <= 128))),
  constraint type_length CHECK (((length(type) >= 1) AND (length(type) <= 128))),
  constraint webhook_url_format CHECK (((webhook_url ~ '^https?://[^\s]+$'::text) AND (length(webhook_url) <= 2000)))
);
alter table jobdeck.job_templates enable row level security;
CREATE INDEX job_templates_org_idx ON jobdeck.job_templates USING btree (org_id);
CREATE UNIQUE INDEX job_templates_pkey ON jobdeck.job_templates USING btree (name);
create policy job_templates_select on jobdeck.job_templates for select to jobdeck_admin, jobdeck_user using ((((org_id IS NULL) OR (org_id = jobdeck.current_org_id())) AND jobdeck.current_user_can('jobs.create_jobs'::text)));
create policy job_templates_select_system on jobdeck.job_templates for select to jobdeck_system using (true);
comment on table jobdeck.job_templates is 'Job templates: named presets of an enqueue (type, payload defaults, priority, queue, max_attempts, notifications). org_id null: usable by every organisation.';
comment on column jobdeck.job_templates.payload_defaults is 'Merged under the payload given at enqueue (objects deep-merged, anything else replaced), then validated by the task''s payload schema.';
-- privileges on table jobdeck.job_templates: jobdeck_system=SELECT

create table jobdeck.jobs (
  id uuid default gen_random_uuid() not null,
  type text not null,
  queue text,
  status text default 'queued'::text not null,
  priority integer default 0 not null,
  progress smallint default 0 not null,
  current_step text,
  total_steps integer,
  completed_steps integer default 0 not null,
  payload jsonb default '{}'::jsonb not null,
  result jsonb,
  errors jsonb default '[]'::jsonb not null,
  attempts integer default 0 not null,
  max_attempts integer default 3 not null,
  run_at timestamp with time zone default now() not null,
  created_at timestamp with time zone default now() not null,
  started_at timestamp with time zone,
  finished_at timestamp with time zone,
  updated_at timestamp with time zone default now() not null,
  heartbeat_at timestamp with time zone,
  owner_id text,
  org_id text,
  related_type text,
  related_id text,
  key text,
  metadata jsonb default '{}'::jsonb not null,
  cancel_requested_at timestamp with time zone,
  cancel_reason text,
  worker_id text,
  gw_job_id bigint,
  eta_at timestamp with time zone,
  peak_rss_bytes bigint,
  cpu_ms bigint,
  held_at timestamp with time zone,
  manual_retries integer default 0 not null,
  webhook_url text,
  notify_email jsonb,
  attempts_before_retry integer default 0 not null,
  held_reason text,
  concurrency_key text,
  rate_key text,
  rate_deferrals integer default 0 not null,
  fair_at timestamp with time zone,
  batch_id uuid,
  depends_on uuid[],
  on_dependency_failure text,
  has_dependants boolean default false not null,
  queue_rate_key text,
  purge_on date default 'infinity'::date not null,
  constraint attempts_before_retry_in_range CHECK (((attempts_before_retry >= 0) AND (attempts_before_retry <= attempts))),
  constraint attempts_not_negative CHECK ((attempts >= 0)),
  constraint completed_steps_not_negative CHECK ((completed_steps >= 0)),
  constraint current_step_length CHECK ((length(current_step) <= 200)),
  constraint depends_on_size CHECK (((depends_on IS NULL) OR ((cardinality(depends_on) >= 1) AND (cardinality(depends_on) <= 1000)))),
  constraint errors_is_array CHECK ((jsonb_typeof(errors) = 'array'::text)),
  constraint finished_has_time CHECK (((status = ANY (ARRAY['succeeded'::text, 'failed'::text, 'cancelled'::text])) = (finished_at IS NOT NULL))),
  constraint jobs_pkey PRIMARY KEY (id, purge_on),
  constraint key_length CHECK (((length(key) >= 1) AND (length(key) <= 512))),
  constraint max_attempts_in_range CHECK (((max_attempts >= 1) AND (max_attempts <= 32767))),
  constraint notify_email_is_object CHECK ((jsonb_typeof(notify_email) = 'object'::text)),
  constraint on_dependency_failure_is_known CHECK ((((depends_on IS NULL) AND (on_dependency_failure IS NULL)) OR ((depends_on IS NOT NULL) AND (on_dependency_failure = ANY (ARRAY['cancel'::text, 'run'::text]))))),
  constraint org_id_length CHECK (((length(org_id) >= 1) AND (length(org_id) <= 200))),
  constraint owner_id_length CHECK (((length(owner_id) >= 1) AND (length(owner_id) <= 200))),
  constraint priority_in_range CHECK (((priority >= '-32768'::integer) AND (priority <= 32767))),
  constraint progress_in_range CHECK (((progress >= 0) AND (progress <= 100))),
  constraint queue_is_valid CHECK (((queue IS NULL) OR ((length(queue) >= 1) AND (length(queue) <= 128)))),
  constraint rate_deferrals_not_negative CHECK ((rate_deferrals >= 0)),
  constraint related_id_length CHECK (((length(related_id) >= 1) AND (length(related_id) <= 200))),
  constraint related_type_length CHECK (((length(related_type) >= 1) AND (length(related_type) <= 100))),
  constraint status_is_known CHECK ((status = ANY (ARRAY['waiting'::text, 'queued'::text, 'running'::text, 'succeeded'::text, 'failed'::text, 'cancelled'::text, 'retrying'::text]))),
  constraint total_steps_not_negative CHECK ((total_steps >= 0)),
  constraint type_is_valid CHECK ((type ~ '^[A-Za-z0-9_.:-]{1,128}$'::text)),
  constraint unfinished_is_live CHECK (((purge_on = 'infinity'::date) OR (status = ANY (ARRAY['succeeded'::text, 'failed'::text, 'cancelled'::text])))),
  constraint webhook_url_is_http CHECK (((webhook_url ~ '^https?://[^\s]+$'::text) AND (length(webhook_url) <= 2000)))
) partitioned;
alter table jobdeck.jobs enable row level security;
CREATE INDEX jobs_active_idx ON ONLY jobdeck.jobs USING btree (created_at DESC, id) WHERE (status = ANY (ARRAY['waiting'::text, 'queued'::text, 'running'::text, 'retrying'::text]));
CREATE INDEX jobs_batch_idx ON ONLY jobdeck.jobs USING btree (batch_id, status) WHERE (batch_id IS NOT NULL);
CREATE INDEX jobs_created_idx ON ONLY jobdeck.jobs USING btree (created_at DESC, id);
CREATE INDEX jobs_depends_on_idx ON ONLY jobdeck.jobs USING gin (depends_on) WHERE (depends_on IS NOT NULL);
CREATE INDEX jobs_fair_turn_idx ON ONLY jobdeck.jobs USING btree (COALESCE(org_id, ''::text), priority, fair_at) WHERE ((fair_at IS NOT NULL) AND (status = ANY (ARRAY['queued'::text, 'retrying'::text])));
CREATE INDEX jobs_finished_idx ON ONLY jobdeck.jobs USING btree (finished_at) WHERE (status = ANY (ARRAY['succeeded'::text, 'failed'::text, 'cancelled'::text]));
CREATE UNIQUE INDEX jobs_gw_job_id_idx ON ONLY jobdeck.jobs USING btree (gw_job_id, purge_on) WHERE (gw_job_id IS NOT NULL);
CREATE INDEX jobs_held_idx ON ONLY jobdeck.jobs USING btree (org_id, priority, run_at, created_at) WHERE (held_at IS NOT NULL);
CREATE UNIQUE INDEX jobs_key_active_idx ON ONLY jobdeck.jobs USING btree (key, purge_on) WHERE ((key IS NOT NULL) AND (status = ANY (ARRAY['queued'::text, 'running'::text, 'retrying'::text])));
CREATE INDEX jobs_org_created_idx ON ONLY jobdeck.jobs USING btree (org_id, created_at DESC, id) WHERE (org_id IS NOT NULL);
CREATE INDEX jobs_owner_created_idx ON ONLY jobdeck.jobs USING btree (owner_id, created_at DESC, id) WHERE (owner_id IS NOT NULL);
CREATE UNIQUE INDEX jobs_pkey ON ONLY jobdeck.jobs USING btree (id, purge_on);
CREATE INDEX jobs_running_concurrency_key_idx ON ONLY jobdeck.jobs USING btree (type, concurrency_key) WHERE ((status = 'running'::text) AND (concurrency_key IS NOT NULL));
CREATE INDEX jobs_running_org_idx ON ONLY jobdeck.jobs USING btree (org_id, type) WHERE (status = 'running'::text);
CREATE INDEX jobs_running_queue_idx ON ONLY jobdeck.jobs USING btree (queue) WHERE ((status = 'running'::text) AND (queue IS NOT NULL));
CREATE INDEX jobs_running_type_idx ON ONLY jobdeck.jobs USING btree (type) WHERE (status = 'running'::text);
CREATE INDEX jobs_running_worker_idx ON ONLY jobdeck.jobs USING btree (worker_id) WHERE (status = 'running'::text);
CREATE INDEX jobs_waiting_run_at_idx ON ONLY jobdeck.jobs USING btree (run_at) WHERE (status = ANY (ARRAY['queued'::text, 'retrying'::text]));
CREATE TRIGGER _500_delete_events AFTER DELETE ON jobdeck.jobs REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION jobdeck_private.tg_jobs__after_delete();
CREATE TRIGGER _500_notify_insert AFTER INSERT ON jobdeck.jobs REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION jobdeck_private.tg_jobs__after_insert();
CREATE TRIGGER _500_notify_update AFTER UPDATE ON jobdeck.jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION jobdeck_private.tg_jobs__after_update();
CREATE TRIGGER _600_count_batch AFTER UPDATE ON jobdeck.jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION jobdeck_private.tg_jobs__count_batch();
CREATE TRIGGER _600_deliveries AFTER UPDATE ON jobdeck.jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION jobdeck_private.tg_jobs__deliveries();
CREATE TRIGGER _700_settle_dependants AFTER UPDATE ON jobdeck.jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION jobdeck_private.tg_jobs__settle_dependants();
create policy jobs_select_org on jobdeck.jobs for select to jobdeck_admin using (((org_id = jobdeck.current_org_id()) AND jobdeck.current_user_can('jobs.view_jobs'::text)));
create policy jobs_select_own on jobdeck.jobs for select to jobdeck_user using (((owner_id = jobdeck.current_user_id()) AND (org_id = jobdeck.current_org_id()) AND jobdeck.current_user_can('jobs.view_jobs'::text)));
create policy jobs_select_system on jobdeck.jobs for select to jobdeck_system using (true);
comment on table jobdeck.jobs is '@behavior -insert -update -delete
@primaryKey id
Every job jobdeck knows of, from enqueue to its end; the history.';
comment on column jobdeck.jobs.attempts_before_retry is 'Attempts spent before the last manual retry: the current budget''s attempts are attempts - attempts_before_retry, out of max_attempts.';
comment on column jobdeck.jobs.batch_id is 'The batch this job belongs to (enqueueBatch), if any.';
comment on column jobdeck.jobs.concurrency_key is 'The job''s key under its task type''s per-key concurrency limit (defineTask concurrency.key), computed at enqueue.';
comment on column jobdeck.jobs.current_step is '@behavior +filterBy
What the task says it is doing now.';
comment on column jobdeck.jobs.depends_on is 'The jobs this job waits for (enqueued with dependsOn): it runs once all of them have succeeded.';
comment on column jobdeck.jobs.fair_at is '@behavior -*
The turn a fair job was given: its Graphile job''s run_at. Null when it was not given one.';
comment on column jobdeck.jobs.gw_job_id is '@behavior -*
Graphile Worker''s job id of the current attempt.';
comment on column jobdeck.jobs.has_dependants is 'Whether some job depends on this one.';
comment on column jobdeck.jobs.held_at is 'Set while a queued job waits for its organisation to drop below its concurrency cap.';
comment on column jobdeck.jobs.held_reason is 'Why a waiting job is not running: the concurrency limit that holds it, or the rate limit that put it back (and until when).';
comment on column jobdeck.jobs.notify_email is 'E-mail notification: {"to": [addresses], "on": ["succeeded", "failed"]}; hidden from the API.';
comment on column jobdeck.jobs.on_dependency_failure is 'What happens when a dependency fails or is cancelled: cancel (this job is cancelled too) or run (it runs once every dependency has finished).';
comment on column jobdeck.jobs.priority is '@behavior +filterBy +orderBy
Lower runs first (urgent -20, high -10, normal 0, low 10).';
comment on column jobdeck.jobs.progress is '@behavior +filterBy +orderBy
Percent done, 0..100.';
comment on column jobdeck.jobs.purge_on is '@behavior -*
The day from which the job may be dropped (its history partition); infinity while it is unfinished or recently finished (jobs_live).';
comment on column jobdeck.jobs.queue_rate_key is 'The job''s key under its queue''s per-key rate limit (set_queue_rate_limit key_spec), computed at enqueue.';
comment on column jobdeck.jobs.rate_deferrals is 'Times the job''s task said "rate limited, retry after" (RateLimitedError): not attempts; bounded.';
comment on column jobdeck.jobs.rate_key is 'The job''s key under its task type''s per-key rate limit (defineTask rateLimit.key), computed at enqueue.';
comment on column jobdeck.jobs.run_at is '@behavior +filterBy +orderBy';
comment on column jobdeck.jobs.started_at is '@behavior +filterBy +orderBy';
comment on column jobdeck.jobs.status is '@behavior +filterBy +orderBy
queued, running, succeeded, failed, cancelled or retrying (docs/job-states.md).';
comment on column jobdeck.jobs.type is '@behavior +filterBy +orderBy
The task type (a module in tasks/).';
comment on column jobdeck.jobs.updated_at is '@behavior +filterBy +orderBy';
comment on column jobdeck.jobs.webhook_url is 'Called (POST, signed) when the job succeeds or fails.';
comment on constraint jobs_pkey on jobdeck.jobs is '@behavior -*';
-- privileges on table jobdeck.jobs: jobdeck_admin=SELECT jobdeck_anonymous=SELECT jobdeck_system=SELECT jobdeck_user=SELECT

create sequence jobdeck.job_events_id_seq as bigint increment 1 minvalue 1 maxvalue 9223372036854775807 start 1 cache 1;
-- owned by jobdeck.job_events.id (identity)
-- privileges on sequence jobdeck.job_events_id_seq: owner only

CREATE OR REPLACE FUNCTION jobdeck.active_jobs()
 RETURNS SETOF jobdeck.jobs
 LANGUAGE sql
 STABLE
AS $function$
  select j.* from jobdeck.jobs j
   where j.status in ('waiting', 'queued', 'running', 'retrying') and j.purge_on = 'infinity'::date
   order by j.created_at desc, j.id desc
$function$;
comment on function jobdeck.active_jobs() is '@behavior +filter +order
Jobs that are waiting for their dependencies, queued, running or waiting to retry, newest first.';
-- privileges on function jobdeck.active_jobs(): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.batches_finished(batch jobdeck.batches)
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select batch.succeeded + batch.failed + batch.cancelled
$function$;
comment on function jobdeck.batches_finished(batch jobdeck.batches) is '@fieldName finished
Jobs of the batch that finished: succeeded + failed + cancelled.';
-- privileges on function jobdeck.batches_finished(batch jobdeck.batches): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.batches_percent(batch jobdeck.batches)
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select (100 * (batch.succeeded + batch.failed + batch.cancelled)) / batch.total
$function$;
comment on function jobdeck.batches_percent(batch jobdeck.batches) is '@fieldName percent
Whole percent of the batch''s jobs finished (any outcome).';
-- privileges on function jobdeck.batches_percent(batch jobdeck.batches): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.cancel_batch(id uuid, reason text DEFAULT NULL::text)
 RETURNS jobdeck.batches
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_scope text;
begin
  if cancel_batch.id is null then
    raise exception 'batch id is required' using errcode = 'JD004';
  end if;
  perform jobdeck_private.authorize_job(null, 'jobs.cancel_jobs');
  v_scope := jobdeck_private.caller_scope();
  if v_scope <> 'all' and not exists (
    select 1 from jobdeck.batches b
     where b.id = cancel_batch.id and b.org_id = jobdeck.current_org_id()
       and (v_scope = 'org' or b.owner_id = jobdeck.current_user_id())) then
    raise exception 'batch % not found', cancel_batch.id using errcode = 'JD010';
  end if;
  return jobdeck_private.cancel_batch(cancel_batch.id, reason);
end;
$function$;
comment on function jobdeck.cancel_batch(id uuid, reason text) is '@resultFieldName batch
Cancel every unfinished job of a batch (running ones through their worker). Errors: JD010 not found, 42501 not allowed.';
-- privileges on function jobdeck.cancel_batch(id uuid, reason text): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.cancel_job(id uuid, reason text DEFAULT NULL::text)
 RETURNS jobdeck.jobs
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
begin
  if cancel_job.id is null then
    raise exception 'job id is required' using errcode = 'JD004';
  end if;
  perform jobdeck_private.authorize_job(cancel_job.id, 'jobs.cancel_jobs');
  return jobdeck_private.cancel_job(cancel_job.id, reason);
end;
$function$;
comment on function jobdeck.cancel_job(id uuid, reason text) is '@resultFieldName job
Cancel a job: queued/retrying at once, running through its worker (ctx.signal aborts). Errors: JD010 not found, JD011 already finished, 42501 not allowed.';
-- privileges on function jobdeck.cancel_job(id uuid, reason text): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.current_org_id()
 RETURNS text
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$
  select case when session_user = 'jobdeck_api' then nullif(pg_catalog.current_setting('jwt.claims.org', true), '') end
$function$;
comment on function jobdeck.current_org_id() is 'The signed-in user''s organisation (JWT `org`), or null.';
-- privileges on function jobdeck.current_org_id(): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.current_user_can(permission text)
 RETURNS boolean
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$
  select pg_catalog.current_setting('role', true) in ('jobdeck_user', 'jobdeck_admin')
     and jobdeck.current_user_id() is not null
     and jobdeck.current_org_id() is not null
     and (pg_catalog.current_setting('jwt.claims.permissions', true) = '*'
          or permission = any (pg_catalog.string_to_array(pg_catalog.current_setting('jwt.claims.permissions', true), ',')))
$function$;
comment on function jobdeck.current_user_can(permission text) is 'Whether the signed-in user holds a permission (jobs.create_jobs, jobs.view_jobs, jobs.cancel_jobs, jobs.retry_jobs).';
-- privileges on function jobdeck.current_user_can(permission text): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.current_user_id()
 RETURNS text
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$
  select case when session_user = 'jobdeck_api' then nullif(pg_catalog.current_setting('jwt.claims.sub', true), '') end
$function$;
comment on function jobdeck.current_user_id() is 'The signed-in user (JWT `sub`), or null.';
-- privileges on function jobdeck.current_user_id(): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.delete_job(id uuid)
 RETURNS uuid
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_status text;
begin
  if delete_job.id is null then
    raise exception 'job id is required' using errcode = 'JD004';
  end if;
  perform jobdeck_private.authorize_job(delete_job.id, 'jobs.cancel_jobs');
  select j.status into v_status from jobdeck.jobs j where j.id = delete_job.id for update;
  if not found then
    raise exception 'job % not found', delete_job.id using errcode = 'JD010';
  end if;
  if v_status not in ('succeeded', 'failed', 'cancelled') then
    raise exception 'job % is %: only a finished job can be deleted (cancel it first)', delete_job.id, v_status
      using errcode = 'JD011', detail = json_build_object('status', v_status)::text;
  end if;
  delete from jobdeck.jobs j where j.id = delete_job.id;
  return delete_job.id;
end;
$function$;
comment on function jobdeck.delete_job(id uuid) is '@resultFieldName deletedJobId
Delete a finished (succeeded, failed or cancelled) job with its log. Errors: JD010 not found, JD011 not finished, 42501 not allowed.';
-- privileges on function jobdeck.delete_job(id uuid): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.delete_job_template(name text)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform jobdeck_private.deny_api_caller('jobdeck.delete_job_template()');
  delete from jobdeck.job_templates t where t.name = delete_job_template.name;
  return found;
end;
$function$;
comment on function jobdeck.delete_job_template(name text) is 'Remove a job template (trusted callers); true when it existed.';
-- privileges on function jobdeck.delete_job_template(name text): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.enqueue(type text, payload jsonb DEFAULT '{}'::jsonb, priority integer DEFAULT 0, run_at timestamp with time zone DEFAULT NULL::timestamp with time zone, max_attempts integer DEFAULT NULL::integer, key text DEFAULT NULL::text, queue text DEFAULT NULL::text, owner_id text DEFAULT NULL::text, org_id text DEFAULT NULL::text, related_type text DEFAULT NULL::text, related_id text DEFAULT NULL::text, metadata jsonb DEFAULT '{}'::jsonb, key_mode text DEFAULT 'keep'::text, webhook_url text DEFAULT NULL::text, notify_email text[] DEFAULT NULL::text[], notify_on text[] DEFAULT NULL::text[], depends_on uuid[] DEFAULT NULL::uuid[], on_dependency_failure text DEFAULT NULL::text)
 RETURNS jobdeck.jobs
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_job jobdeck.jobs;
begin
  perform jobdeck_private.deny_api_caller('jobdeck.enqueue()');
  v_job := jobdeck_private.enqueue(type, payload, priority, run_at, max_attempts, key, queue, owner_id, org_id,
                                   related_type, related_id, metadata, key_mode, depends_on,
                                   on_dependency_failure);
  if webhook_url is not null then
    v_job := jobdeck_private.set_webhook(v_job.id, webhook_url);
  end if;
  if notify_email is not null then
    v_job := jobdeck_private.set_email_notification(v_job.id, notify_email, notify_on);
  elsif notify_on is not null then
    raise exception 'notify_on needs notify_email (the addresses to notify)' using errcode = 'JD004';
  end if;
  return v_job;
end;
$function$;
comment on function jobdeck.enqueue(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, key_mode text, webhook_url text, notify_email text[], notify_on text[], depends_on uuid[], on_dependency_failure text) is 'Enqueue a tracked job in the current transaction. key_mode keep|replace. Errors: JD001 unknown type, JD002 invalid payload, JD003 payload too large, JD004 bad option.';
-- privileges on function jobdeck.enqueue(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, key_mode text, webhook_url text, notify_email text[], notify_on text[], depends_on uuid[], on_dependency_failure text): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.enqueue_batch(specs jsonb, on_complete text DEFAULT NULL::text, payload jsonb DEFAULT '{}'::jsonb, owner_id text DEFAULT NULL::text, org_id text DEFAULT NULL::text)
 RETURNS jobdeck.batches
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
begin
  perform jobdeck_private.deny_api_caller('jobdeck.enqueue_batch()');
  return jobdeck_private.enqueue_batch(specs, on_complete, payload, owner_id, org_id);
end;
$function$;
comment on function jobdeck.enqueue_batch(specs jsonb, on_complete text, payload jsonb, owner_id text, org_id text) is '@behavior -*
Enqueue jobs as one batch (aggregate progress, cancellable as a whole, an optional on-complete job): all or none.';
-- privileges on function jobdeck.enqueue_batch(specs jsonb, on_complete text, payload jsonb, owner_id text, org_id text): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.enqueue_from_template(name text, payload jsonb DEFAULT '{}'::jsonb, priority integer DEFAULT NULL::integer, max_attempts integer DEFAULT NULL::integer, key text DEFAULT NULL::text)
 RETURNS jobdeck.jobs
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_owner    text := jobdeck.current_user_id();
  v_org      text := jobdeck.current_org_id();
  v_template jobdeck.job_templates;
  v_job      jobdeck.jobs;
begin
  perform jobdeck_private.authorize_job(null, 'jobs.create_jobs');
  if v_owner is null or v_org is null then
    raise exception 'enqueue_from_template needs a signed-in user: the token must carry sub and org' using errcode = '42501';
  end if;
  select * into v_template from jobdeck.job_templates t
   where t.name = enqueue_from_template.name and (t.org_id is null or t.org_id = v_org);
  if not found then
    raise exception 'job template "%" not found', left(coalesce(name, 'null'), 200) using errcode = 'JD010';
  end if;
  v_job := jobdeck_private.enqueue_from_template(
    v_template, coalesce(payload, '{}'::jsonb), priority, null, max_attempts,
    jobdeck_private.api_enqueue_key(v_template.type, priority, max_attempts, key,
      format('job type "%s" of template "%s" cannot be enqueued through the API', v_template.type, name)),
    null, v_owner, v_org, null, null, '{}'::jsonb, 'keep', null, null, null);
  if v_job.owner_id is distinct from v_owner or v_job.org_id is distinct from v_org then
    raise exception 'key "%" is taken by a job that is not yours', key using errcode = 'JD004';
  end if;
  return v_job;
end;
$function$;
comment on function jobdeck.enqueue_from_template(name text, payload jsonb, priority integer, max_attempts integer, key text) is '@resultFieldName job
Enqueue a job from a job template as the signed-in user (owner and organisation from the token). Errors: JD001 unknown type, JD002 invalid payload, JD003 payload too large, JD004 bad option, JD010 unknown template, 42501 not allowed.';
-- privileges on function jobdeck.enqueue_from_template(name text, payload jsonb, priority integer, max_attempts integer, key text): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.enqueue_graph(jobs jsonb)
 RETURNS TABLE(ref text, id uuid)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform jobdeck_private.deny_api_caller('jobdeck.enqueue_graph()');
  return query select g.ref, g.id from jobdeck_private.enqueue_graph_as(jobs, false) g;
end;
$function$;
comment on function jobdeck.enqueue_graph(jobs jsonb) is 'Enqueue jobs that depend on each other (refs) in one call, all or none; cycles are refused. Returns each ref with its job id. Errors as enqueue, prefixed with the ref.';
-- privileges on function jobdeck.enqueue_graph(jobs jsonb): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.enqueue_job(type text, payload jsonb DEFAULT '{}'::jsonb, priority integer DEFAULT 0, run_at timestamp with time zone DEFAULT NULL::timestamp with time zone, max_attempts integer DEFAULT NULL::integer, key text DEFAULT NULL::text, depends_on uuid[] DEFAULT NULL::uuid[], on_dependency_failure text DEFAULT NULL::text)
 RETURNS jobdeck.jobs
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_owner text := jobdeck.current_user_id();
  v_org   text := jobdeck.current_org_id();
  v_job   jobdeck.jobs;
begin
  perform jobdeck_private.authorize_job(null, 'jobs.create_jobs');
  if v_owner is null or v_org is null then
    raise exception 'enqueue_job needs a signed-in user: the token must carry sub and org' using errcode = '42501';
  end if;
  v_job := jobdeck_private.enqueue(
    type, coalesce(payload, '{}'::jsonb), coalesce(priority, 0), run_at, max_attempts,
    jobdeck_private.api_enqueue_key(type, priority, max_attempts, key,
      format('job type "%s" cannot be enqueued through the API', type)),
    null, v_owner, v_org, null, null, '{}'::jsonb, 'keep', depends_on, on_dependency_failure);
  if v_job.owner_id is distinct from v_owner or v_job.org_id is distinct from v_org then
    raise exception 'key "%" is taken by a job that is not yours', key using errcode = 'JD004';
  end if;
  return v_job;
end;
$function$;
comment on function jobdeck.enqueue_job(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, depends_on uuid[], on_dependency_failure text) is '@resultFieldName job
Enqueue a job as the signed-in user (owner and organisation from the token). Errors: JD001 unknown type, JD002 invalid payload, JD003 payload too large, JD004 bad option, 42501 not allowed.';
-- privileges on function jobdeck.enqueue_job(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, depends_on uuid[], on_dependency_failure text): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.enqueue_job_graph(jobs jsonb)
 RETURNS TABLE(ref text, id uuid)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  return query select g.ref, g.id from jobdeck_private.enqueue_graph_as(jobs, true) g;
end;
$function$;
comment on function jobdeck.enqueue_job_graph(jobs jsonb) is 'Enqueue, as the signed-in user, jobs that depend on each other: a JSON array of {ref, type, payload, priority, runAt, maxAttempts, key, dependsOn (refs or job ids), onDependencyFailure}. All or none; cycles refused. Returns each ref with its job id. Errors as enqueueJob, prefixed with the ref.';
-- privileges on function jobdeck.enqueue_job_graph(jobs jsonb): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.enqueue_many(specs jsonb)
 RETURNS SETOF jobdeck.jobs
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_job jobdeck.jobs;
  v_i   integer := 0;
  v_url text;
  v_spec jsonb;
  v_to jsonb;
  v_on jsonb;
begin
  perform jobdeck_private.deny_api_caller('jobdeck.enqueue_many()');
  -- the jobs come back in the order of their specs
  for v_job in select * from jobdeck_private.enqueue_many(specs) loop
    v_url := specs -> v_i ->> 'webhookUrl';
    if v_url is null then
      v_url := specs -> v_i ->> 'webhook_url';
    end if;
    if v_url is not null then
      v_job := jobdeck_private.set_webhook(v_job.id, v_url);
    end if;
    v_spec := specs -> v_i;
    v_to := coalesce(v_spec -> 'notifyEmail', v_spec -> 'notify_email');
    v_on := coalesce(v_spec -> 'notifyOn', v_spec -> 'notify_on');
    if jsonb_typeof(v_to) = 'string' then
      v_to := jsonb_build_array(v_to);
    end if;
    if v_to is not null and jsonb_typeof(v_to) <> 'null' then
      v_job := jobdeck_private.set_email_notification(
        v_job.id,
        array(select jsonb_array_elements_text(v_to)),
        case when v_on is null or jsonb_typeof(v_on) = 'null' then null
             else array(select jsonb_array_elements_text(v_on)) end);
    end if;
    v_i := v_i + 1;
    return next v_job;
  end loop;
end;
$function$;
comment on function jobdeck.enqueue_many(specs jsonb) is 'Enqueue many tracked jobs at once (a JSON array of enqueue() specs): all or none.';
-- privileges on function jobdeck.enqueue_many(specs jsonb): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.enqueue_template(name text, payload jsonb DEFAULT '{}'::jsonb, priority integer DEFAULT NULL::integer, run_at timestamp with time zone DEFAULT NULL::timestamp with time zone, max_attempts integer DEFAULT NULL::integer, key text DEFAULT NULL::text, queue text DEFAULT NULL::text, owner_id text DEFAULT NULL::text, org_id text DEFAULT NULL::text, related_type text DEFAULT NULL::text, related_id text DEFAULT NULL::text, metadata jsonb DEFAULT '{}'::jsonb, key_mode text DEFAULT 'keep'::text, webhook_url text DEFAULT NULL::text, notify_email text[] DEFAULT NULL::text[], notify_on text[] DEFAULT NULL::text[])
 RETURNS jobdeck.jobs
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_template jobdeck.job_templates;
begin
  perform jobdeck_private.deny_api_caller('jobdeck.enqueue_template()');
  select * into v_template from jobdeck.job_templates t where t.name = enqueue_template.name;
  if not found then
    raise exception 'job template "%" not found', left(coalesce(name, 'null'), 200) using errcode = 'JD010';
  end if;
  if v_template.org_id is not null and org_id is not null and org_id <> v_template.org_id then
    raise exception 'job template "%" belongs to another organisation than "%"', name, org_id using errcode = 'JD004';
  end if;
  return jobdeck_private.enqueue_from_template(
    v_template, payload, priority, run_at, max_attempts, key, queue, owner_id, coalesce(org_id, v_template.org_id),
    related_type, related_id, metadata, key_mode, webhook_url, notify_email, notify_on);
end;
$function$;
comment on function jobdeck.enqueue_template(name text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, key_mode text, webhook_url text, notify_email text[], notify_on text[]) is 'Enqueue a tracked job from a job template in the current transaction (trusted callers). Errors: JD001 unknown type, JD002 invalid payload, JD003 payload too large, JD004 bad option, JD010 unknown template.';
-- privileges on function jobdeck.enqueue_template(name text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, key_mode text, webhook_url text, notify_email text[], notify_on text[]): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.find_jobs(term text)
 RETURNS SETOF jobdeck.jobs
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_term text := pg_catalog.btrim(find_jobs.term);
begin
  if v_term ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    return query select j.* from jobdeck.jobs j where j.id = v_term::uuid;
  end if;
  return query
    select j.* from jobdeck.jobs j
     where j.key = v_term
        -- the key an API caller gave, in its owner's key space (enqueue/api_enqueue_key.sql)
        or j.key = 'u:' || pg_catalog.md5(pg_catalog.json_build_array(j.org_id, j.owner_id)::text) || ':' || v_term
     order by j.created_at desc, j.id desc limit 20;
end;
$function$;
comment on function jobdeck.find_jobs(term text) is 'The job whose id is `term`, or the jobs (at most 20, newest first) whose key is `term`.';
-- privileges on function jobdeck.find_jobs(term text): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.job_stats(since timestamp with time zone DEFAULT (now() - '24:00:00'::interval), type text DEFAULT NULL::text)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_bucket integer;
  v_result jsonb;
begin
  if since is null or not isfinite(since) then
    raise exception 'since must be a finite time' using errcode = 'JD004';
  end if;
  if since > now() then
    raise exception 'since must be in the past, got %', since using errcode = 'JD004';
  end if;
  v_bucket := greatest(60, ceil(extract(epoch from now() - since) / 1440 / 60)::integer * 60);

  with active as (
    select j.type, j.queue, j.status, j.run_at, j.created_at, j.held_at, j.held_reason,
           coalesce(j.held_at is not null and j.held_reason like 'paused:%', false) as paused,
           case when j.status in ('queued', 'retrying') then jobdeck.wait_reason(j.held_at, j.held_reason) end as wait
      from jobdeck.jobs j
     where j.status in ('waiting', 'queued', 'running', 'retrying') and (job_stats.type is null or j.type = job_stats.type)
  ), done as (
    select j.type, j.status, j.started_at, j.finished_at,
           extract(epoch from (j.finished_at - j.started_at)) * 1000 as ms,
           j.peak_rss_bytes, j.cpu_ms, j.errors -> -1 ->> 'name' as last_error
      from jobdeck.jobs j
     where j.status in ('succeeded', 'failed', 'cancelled') and j.finished_at >= since
       and (job_stats.type is null or j.type = job_stats.type)
  ), types as (
    select t.type from active t union select d.type from done d
  ), waits as (
    -- waiting jobs kept back, by reason (jobdeck.wait_reason), type and queue
    select a.type, a.queue, a.wait, count(*) as n from active a where a.wait is not null group by 1, 2, 3
  ), queues as (
    select a.queue, count(*) filter (where a.status = 'queued') as queued,
           count(*) filter (where a.status = 'running') as running,
           count(*) filter (where a.status = 'retrying') as retrying
      from active a group by 1
  ), per_type as (
    select t.type,
           jsonb_build_object(
             'type', t.type,
             'waiting', (select count(*) from active a where a.type = t.type and a.status = 'waiting'),
             'queued', (select count(*) from active a where a.type = t.type and a.status = 'queued'),
             'running', (select count(*) from active a where a.type = t.type and a.status = 'running'),
             'retrying', (select count(*) from active a where a.type = t.type and a.status = 'retrying'),
             'paused', (select count(*) from active a where a.type = t.type and a.paused),
             'heldBy', (select coalesce(jsonb_object_agg(w.wait, w.n), '{}')
                          from (select w.wait, sum(w.n) as n from waits w where w.type = t.type group by 1) w),
             'succeeded', (select count(*) from done d where d.type = t.type and d.status = 'succeeded'),
             'failed', (select count(*) from done d where d.type = t.type and d.status = 'failed'),
             'cancelled', (select count(*) from done d where d.type = t.type and d.status = 'cancelled'),
             'p50Ms', (select round(percentile_cont(0.5) within group (order by d.ms))
                         from done d where d.type = t.type and d.status = 'succeeded' and d.started_at is not null),
             'p95Ms', (select round(percentile_cont(0.95) within group (order by d.ms))
                         from done d where d.type = t.type and d.status = 'succeeded' and d.started_at is not null),
             'lastFailureAt', (select max(d.finished_at) from done d where d.type = t.type and d.status = 'failed'),
             'peakRssMbAvg', (select round(avg(d.peak_rss_bytes) / 1048576) from done d where d.type = t.type),
             'peakRssMbMax', (select round(max(d.peak_rss_bytes) / 1048576.0) from done d where d.type = t.type),
             'cpuMsAvg', (select round(avg(d.cpu_ms)) from done d where d.type = t.type),
             'cpuMsMax', (select max(d.cpu_ms) from done d where d.type = t.type),
             'limitFailures', (select count(*) from done d where d.type = t.type and d.status = 'failed'
                                 and d.last_error = 'ResourceLimitError')
           ) as doc
      from types t
  ), buckets as (
    select to_timestamp(floor(extract(epoch from d.finished_at) / v_bucket) * v_bucket) as at,
           count(*) filter (where d.status = 'succeeded') as succeeded,
           count(*) filter (where d.status = 'failed') as failed,
           count(*) filter (where d.status = 'cancelled') as cancelled
      from done d group by 1
  )
  select jsonb_build_object(
    'since', since,
    'at', now(),
    'type', job_stats.type,
    'byStatus', jsonb_build_object(
      'waiting', (select count(*) from active a where a.status = 'waiting'),
      'queued', (select count(*) from active a where a.status = 'queued'),
      'running', (select count(*) from active a where a.status = 'running'),
      'retrying', (select count(*) from active a where a.status = 'retrying'),
      'succeeded', (select count(*) from done d where d.status = 'succeeded'),
      'failed', (select count(*) from done d where d.status = 'failed'),
      'cancelled', (select count(*) from done d where d.status = 'cancelled')),
    'queue', jsonb_build_object(
      'depth', (select count(*) from active a where a.status in ('queued', 'retrying')),
      'ready', (select count(*) from active a where a.status in ('queued', 'retrying') and a.run_at <= now() and a.held_at is null),
      'scheduled', (select count(*) from active a where a.status in ('queued', 'retrying') and a.run_at > now()),
      'held', (select count(*) from active a where a.held_at is not null),
      'paused', (select count(*) from active a where a.paused),
      'oldestReadyAgeMs', (select round(extract(epoch from now() - min(greatest(a.run_at, a.created_at))) * 1000)
                             from active a where a.status in ('queued', 'retrying') and a.run_at <= now())),
    -- waiting jobs held back by a limit, by reason (issue 20): a concurrency limit holds them
    -- (held_at), a rate limit (or their task's "rate limited") put them back until later; and
    -- the jobs waiting for their dependencies (issue 21)
    'waiting', jsonb_build_object(
      'dependencies', (select count(*) from active a where a.status = 'waiting'),
      'concurrencyLimit', (select count(*) from active a where a.held_at is not null and not a.paused),
      'rateLimit', (select count(*) from active a where a.status in ('queued', 'retrying') and a.held_at is null
                      and a.held_reason like 'rate limited%'),
      'byReason', (select coalesce(jsonb_object_agg(w.wait, w.n), '{}')
                     from (select w.wait, sum(w.n) as n from waits w group by 1) w)),
    -- per queue (null: the default queue): its jobs, why its waiting ones wait, and its settings
    'byQueue', coalesce((
      select jsonb_agg(jsonb_build_object(
               'queue', q.queue, 'queued', q.queued, 'running', q.running, 'retrying', q.retrying,
               'heldBy', (select coalesce(jsonb_object_agg(w.wait, w.n), '{}')
                            from (select w.wait, sum(w.n) as n from waits w
                                   where w.queue is not distinct from q.queue group by 1) w))
               || coalesce(f.flow -> q.queue,
                           '{"concurrencyLimit": null, "rateLimit": null, "fairness": null, "paused": null}')
               order by q.queue nulls first)
        from queues q
       cross join (select jobdeck.queue_flow(array_agg(q2.queue)) as flow from queues q2) f), '[]'),
    'byType', coalesce((select jsonb_agg(p.doc order by p.type) from per_type p), '[]'),
    'throughput', jsonb_build_object(
      'bucketSeconds', v_bucket,
      'perMinute', round((select count(*) from done d)::numeric
                         / greatest(extract(epoch from now() - since) / 60, 1), 2),
      'series', coalesce((select jsonb_agg(jsonb_build_object('at', b.at, 'succeeded', b.succeeded, 'failed', b.failed,
                                                              'cancelled', b.cancelled) order by b.at)
                            from buckets b), '[]'))
  ) into v_result;
  return v_result;
end;
$function$;
comment on function jobdeck.job_stats(since timestamp with time zone, type text) is 'Counts by status and type, queue depth, oldest ready age, p50/p95 durations, per-type peak memory and CPU time, failures and throughput since `since`.';
-- privileges on function jobdeck.job_stats(since timestamp with time zone, type text): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.jobs_attempt_history(job jobdeck.jobs)
 RETURNS SETOF jobdeck.job_attempt
 LANGUAGE sql
 STABLE
AS $function$
  with t as (
    -- every transition into running opens an attempt (n counts them), and so does the end of an
    -- attempt never marked running, which carries its start (events/tg_jobs__after_update.sql)
    select e.id, e.at, e.attempt, e.message, e.data ->> 'to' as to_status,
           case when e.data ->> 'to' = 'running' then e.at
                when e.data ? 'startedAt' then (e.data ->> 'startedAt')::timestamptz end as opened_at,
           count(*) filter (where e.data ->> 'to' = 'running' or e.data ? 'startedAt') over (order by e.id) as n
      from jobdeck.job_events e
     where e.job_id = job.id and e.kind = 'transition'
  ), attempts as (
    select t.n,
           min(t.opened_at) as started_at,
           min(t.attempt) filter (where t.opened_at is not null) as attempt,
           (array_agg(t.at order by t.id) filter (where t.to_status <> 'running'))[1] as ended_at,
           (array_agg(t.to_status order by t.id) filter (where t.to_status <> 'running'))[1] as ended_as,
           (array_agg(t.message order by t.id) filter (where t.to_status <> 'running'))[1] as message
      from t where t.n > 0 group by t.n
  ), spans as (
    select a.*, lead(a.started_at) over (order by a.n) as next_started_at from attempts a
  )
  select s.attempt, s.started_at,
         coalesce(s.ended_at, s.next_started_at),
         case
           when s.ended_as is null and s.next_started_at is not null then 'interrupted'
           when s.ended_as is null then 'running'
           when s.ended_as = 'queued' then 'interrupted'
           else s.ended_as
         end,
         coalesce(s.message, case when s.next_started_at is not null then 'the worker was lost; rescued' end),
         (select e from pg_catalog.jsonb_array_elements(jobdeck.jobs_errors(job)) e
           where (e ->> 'attempt')::integer = s.attempt
             and (e ->> 'at')::timestamptz >= s.started_at
             and (e ->> 'at')::timestamptz <= coalesce(s.ended_at, s.next_started_at, 'infinity')
           order by (e ->> 'at')::timestamptz limit 1)
    from spans s
   order by s.n
$function$;
comment on function jobdeck.jobs_attempt_history(job jobdeck.jobs) is 'Every attempt of this job, oldest first, with its outcome and error (message; the stack for admins only).';
-- privileges on function jobdeck.jobs_attempt_history(job jobdeck.jobs): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.jobs_errors(job jobdeck.jobs)
 RETURNS jsonb
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select case
    when jobdeck_private.caller_scope() in ('org', 'all') then job.errors
    else coalesce(
      (select pg_catalog.jsonb_agg(
                case when pg_catalog.jsonb_typeof(e.value) = 'object'
                     then e.value || '{"stack": null}'::jsonb else e.value end
                order by e.ordinality)
         from pg_catalog.jsonb_array_elements(job.errors) with ordinality e),
      '[]'::jsonb)
  end
$function$;
comment on function jobdeck.jobs_errors(job jobdeck.jobs) is 'One entry per failed attempt ({at, attempt, name, message, stack, permanent, …}); `stack` is null unless you are an admin of the job''s organisation.';
-- privileges on function jobdeck.jobs_errors(job jobdeck.jobs): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.jobs_steps(job jobdeck.jobs)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'name', s.name, 'position', s.position, 'kind', s.kind, 'result', s.result,
           'attempt', s.attempt, 'startedAt', s.started_at, 'completedAt', s.completed_at,
           'wakeAt', s.wake_at, 'waitEvent', s.wait_event, 'timedOut', s.timed_out)
           order by s.position, s.started_at), '[]'::jsonb)
    from jobdeck.job_steps s
   where s.job_id = job.id
$function$;
comment on function jobdeck.jobs_steps(job jobdeck.jobs) is 'The job''s durable steps in order ({name, position, kind, result, attempt, startedAt, completedAt, wakeAt, waitEvent, timedOut}).';
-- privileges on function jobdeck.jobs_steps(job jobdeck.jobs): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.jobs_waiting_for(job jobdeck.jobs)
 RETURNS uuid[]
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select case when job.status = 'waiting' then
    coalesce((select pg_catalog.array_agg(d.id order by d.id)
                from pg_catalog.unnest(job.depends_on) d(id)
                join jobdeck.jobs p on p.id = d.id
               where p.status <> 'succeeded'), '{}')
  else '{}' end
$function$;
comment on function jobdeck.jobs_waiting_for(job jobdeck.jobs) is 'The jobs this waiting job still waits for (its dependencies that have not succeeded yet).';
-- privileges on function jobdeck.jobs_waiting_for(job jobdeck.jobs): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.pause_all(reason text DEFAULT NULL::text, cancel_running boolean DEFAULT false, paused_by text DEFAULT NULL::text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  return jobdeck_private.pause('all', '', reason, coalesce(cancel_running, false), paused_by);
end;
$function$;
comment on function jobdeck.pause_all(reason text, cancel_running boolean, paused_by text) is 'Pause everything: every job stays queued and none starts, on any worker, until resumed. Errors: JD004 bad argument.';
-- privileges on function jobdeck.pause_all(reason text, cancel_running boolean, paused_by text): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.pause_queue(queue text, reason text DEFAULT NULL::text, cancel_running boolean DEFAULT false, paused_by text DEFAULT NULL::text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  return jobdeck_private.pause('queue', pause_queue.queue, reason, coalesce(cancel_running, false), paused_by);
end;
$function$;
comment on function jobdeck.pause_queue(queue text, reason text, cancel_running boolean, paused_by text) is 'Pause a queue: its jobs stay queued and none starts, on any worker, until resumed. Errors: JD004 bad argument.';
-- privileges on function jobdeck.pause_queue(queue text, reason text, cancel_running boolean, paused_by text): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.pause_task_type(type text, reason text DEFAULT NULL::text, cancel_running boolean DEFAULT false, paused_by text DEFAULT NULL::text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  return jobdeck_private.pause('type', pause_task_type.type, reason, coalesce(cancel_running, false), paused_by);
end;
$function$;
comment on function jobdeck.pause_task_type(type text, reason text, cancel_running boolean, paused_by text) is 'Pause a task type: its jobs stay queued and none starts, on any worker, until resumed. Errors: JD004 bad argument.';
-- privileges on function jobdeck.pause_task_type(type text, reason text, cancel_running boolean, paused_by text): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.pauses()
 RETURNS TABLE(scope text, key text, reason text, paused_by text, paused_at timestamp with time zone, held bigint)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select p.scope, nullif(p.key, ''), p.reason, p.paused_by, p.paused_at,
         (select count(*) from jobdeck.jobs j
           where j.held_at is not null and j.status in ('queued', 'retrying')
             and j.held_reason like 'paused:%'
             and (p.scope = 'all' or (p.scope = 'type' and j.type = p.key) or (p.scope = 'queue' and j.queue = p.key))
             and j.held_reason = (case p.scope when 'all' then 'paused: everything'
                                                when 'type' then format('paused: task type "%s"', p.key)
                                                else format('paused: queue "%s"', p.key) end
                                  || coalesce(' (' || p.reason || ')', '')))
    from jobdeck_private.pauses p
   order by p.paused_at, p.scope, p.key
$function$;
comment on function jobdeck.pauses() is 'What is paused now (queues, task types, everything), with the number of jobs each holds.';
-- privileges on function jobdeck.pauses(): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.priority(name text)
 RETURNS integer
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  return case lower(trim(name))
    when 'urgent' then -20 when 'high' then -10 when 'normal' then 0 when 'low' then 10
    else null end;
end;
$function$;
comment on function jobdeck.priority(name text) is 'Priority by name (lower runs first): urgent -20, high -10, normal 0, low 10; null for an unknown name.';
-- privileges on function jobdeck.priority(name text): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.queue_flow(queues text[])
 RETURNS jsonb
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select coalesce(jsonb_object_agg(q.name, jsonb_build_object(
           'concurrencyLimit', (select c.max_running from jobdeck_private.concurrency_limits c
                                 where c.scope = 'queue' and c.key = q.name),
           'rateLimit', (select jsonb_build_object('maxStarts', r.max_starts,
                                                   'periodMs', round(extract(epoch from r.period) * 1000),
                                                   'key', r.key_spec)
                           from jobdeck_private.rate_limits r where r.scope = 'queue' and r.name = q.name),
           'fairness', (select f.fairness from jobdeck_private.queue_fairness f where f.queue = q.name),
           'paused', (select p.reason from jobdeck_private.pause_reason(null, q.name) p(reason)
                       where p.reason like 'paused: queue %' or p.reason like 'paused: everything%'))),
         '{}')
    from (select distinct x as name from unnest(queues) x where x is not null) q
$function$;
comment on function jobdeck.queue_flow(queues text[]) is 'Flow-control settings (concurrency limit, rate limit, fairness, pause) of the queues named.';
-- privileges on function jobdeck.queue_flow(queues text[]): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.recent_jobs_of_caller(succeeded_for_seconds integer)
 RETURNS SETOF jobdeck.jobs
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
begin
  return query
  select j.* from jobdeck.jobs j
   where j.owner_id = jobdeck.current_user_id()
     and (j.status in ('waiting', 'queued', 'running', 'retrying')
          or (j.created_at > now() - interval '1 hour'
              and (j.status in ('failed', 'cancelled')
                   or j.finished_at > now() - make_interval(secs => succeeded_for_seconds))))
   order by j.created_at desc
   limit 100;
end;
$function$;
comment on function jobdeck.recent_jobs_of_caller(succeeded_for_seconds integer) is 'The caller''s unfinished jobs, failed or cancelled ones created in the last hour and succeeded ones ended in the last succeeded_for_seconds; newest first, at most 100.';
-- privileges on function jobdeck.recent_jobs_of_caller(succeeded_for_seconds integer): jobdeck_admin=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.resume_all()
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  return jobdeck_private.resume('all', '');
end;
$function$;
comment on function jobdeck.resume_all() is 'End the pause of everything: its held jobs are queued again at once. Errors: JD004 bad argument.';
-- privileges on function jobdeck.resume_all(): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.resume_queue(queue text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  return jobdeck_private.resume('queue', resume_queue.queue);
end;
$function$;
comment on function jobdeck.resume_queue(queue text) is 'End the pause of a queue: its held jobs are queued again at once. Errors: JD004 bad argument.';
-- privileges on function jobdeck.resume_queue(queue text): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.resume_task_type(type text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  return jobdeck_private.resume('type', resume_task_type.type);
end;
$function$;
comment on function jobdeck.resume_task_type(type text) is 'End the pause of a task type: its held jobs are queued again at once. Errors: JD004 bad argument.';
-- privileges on function jobdeck.resume_task_type(type text): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.retry_job(id uuid, keep_steps boolean DEFAULT true)
 RETURNS jobdeck.jobs
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
begin
  if retry_job.id is null then
    raise exception 'job id is required' using errcode = 'JD004';
  end if;
  perform jobdeck_private.authorize_job(retry_job.id, 'jobs.retry_jobs');
  begin
    return jobdeck_private.retry_job(retry_job.id, retry_job.keep_steps);
  exception when sqlstate 'JD011' then
    -- the message may name another job that holds the key; API callers must not learn of it
    if jobdeck_private.caller_scope() <> 'all' and sqlerrm like '%key%' then
      raise exception 'job % cannot be retried while another unfinished job holds its key', retry_job.id
        using errcode = 'JD011', detail = json_build_object('status', 'conflict')::text;
    end if;
    raise;
  end;
end;
$function$;
comment on function jobdeck.retry_job(id uuid, keep_steps boolean) is '@resultFieldName job
Run a failed or cancelled job again with a fresh attempt budget; earlier errors are kept; completed steps are kept unless keepSteps is false. Errors: JD010, JD011, 42501.';
-- privileges on function jobdeck.retry_job(id uuid, keep_steps boolean): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.set_job_template(name text, type text, payload_defaults jsonb DEFAULT '{}'::jsonb, priority integer DEFAULT NULL::integer, queue text DEFAULT NULL::text, max_attempts integer DEFAULT NULL::integer, webhook_url text DEFAULT NULL::text, notify_email text[] DEFAULT NULL::text[], notify_on text[] DEFAULT NULL::text[], description text DEFAULT NULL::text, org_id text DEFAULT NULL::text)
 RETURNS jobdeck.job_templates
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_type     jobdeck_private.task_types;
  v_template jobdeck.job_templates;
begin
  perform jobdeck_private.deny_api_caller('jobdeck.set_job_template()');
  if name is null or name !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$' then
    raise exception 'template name must be 1 to 128 letters, digits, _ . : or - (starting with a letter or digit), got "%"',
      left(coalesce(name, 'null'), 200) using errcode = 'JD004';
  end if;
  select * into v_type from jobdeck_private.task_types t where t.type = set_job_template.type;
  if not found then
    raise exception 'template "%": unknown job type "%"', name, left(coalesce(type, 'null'), 200) using errcode = 'JD001',
      hint = coalesce('known types: ' || (select string_agg(t.type, ', ' order by t.type) from jobdeck_private.task_types t),
                      'no task types are registered yet: run `jobdeck migrate` or start a worker');
  end if;
  if payload_defaults is null or jsonb_typeof(payload_defaults) <> 'object' then
    raise exception 'template "%": payload defaults must be a JSON object', name using errcode = 'JD002';
  end if;
  if octet_length(payload_defaults::text) > v_type.max_payload_bytes then
    raise exception 'template "%": payload defaults of % bytes are over the % byte limit for job type "%"',
      name, octet_length(payload_defaults::text), v_type.max_payload_bytes, type using errcode = 'JD003';
  end if;
  if notify_on is not null and notify_email is null then
    raise exception 'template "%": notify_on needs notify_email (the addresses to notify)', name using errcode = 'JD004';
  end if;
  insert into jobdeck.job_templates as t (name, type, payload_defaults, priority, queue, max_attempts, webhook_url,
                                          notify_email, notify_on, description, org_id)
  values (name, type, payload_defaults, priority, queue, max_attempts, webhook_url, notify_email, notify_on,
          description, org_id)
  on conflict on constraint job_templates_pkey do update
     set type = excluded.type, payload_defaults = excluded.payload_defaults, priority = excluded.priority,
         queue = excluded.queue, max_attempts = excluded.max_attempts, webhook_url = excluded.webhook_url,
         notify_email = excluded.notify_email, notify_on = excluded.notify_on, description = excluded.description,
         org_id = excluded.org_id, updated_at = now()
  returning t.* into v_template;
  return v_template;
end;
$function$;
comment on function jobdeck.set_job_template(name text, type text, payload_defaults jsonb, priority integer, queue text, max_attempts integer, webhook_url text, notify_email text[], notify_on text[], description text, org_id text) is 'Create or replace a job template (trusted callers). Errors: JD001 unknown type, JD002 bad payload defaults, JD003 defaults too large, JD004 bad option, 23514 a value out of range.';
-- privileges on function jobdeck.set_job_template(name text, type text, payload_defaults jsonb, priority integer, queue text, max_attempts integer, webhook_url text, notify_email text[], notify_on text[], description text, org_id text): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.set_org_weight(org_id text, weight integer)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if org_id is null or pg_catalog.length(org_id) < 1 or pg_catalog.length(org_id) > 256 then
    raise exception 'org_id must be an organisation id of 1 to 256 characters, got %',
      coalesce(pg_catalog.quote_literal(org_id), 'null') using errcode = 'JD004';
  end if;
  if weight is not null and (weight < 1 or weight > 10) then
    raise exception 'weight for organisation "%" must be from 1 to 10, or null to remove it; got %',
      org_id, weight using errcode = 'JD004';
  end if;
  if weight is null then
    delete from jobdeck_private.org_weights w where w.org_id = set_org_weight.org_id;
  else
    insert into jobdeck_private.org_weights as w (org_id, weight)
    values (set_org_weight.org_id, set_org_weight.weight)
    on conflict on constraint org_weights_pkey do update set weight = excluded.weight, updated_at = pg_catalog.now()
     where w.weight is distinct from excluded.weight;
  end if;
  return coalesce(weight, 1);
end;
$function$;
comment on function jobdeck.set_org_weight(org_id text, weight integer) is 'Weighted fair turns: this organisation gets weight (1 to 10) turns for each turn of a weight-1 organisation; null removes it. Errors: JD004 bad argument.';
-- privileges on function jobdeck.set_org_weight(org_id text, weight integer): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.set_queue_concurrency(queue text, max_running integer)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if queue is null or pg_catalog.length(queue) < 1 or pg_catalog.length(queue) > 128 then
    raise exception 'queue must be a name of 1 to 128 characters, got %',
      coalesce(pg_catalog.quote_literal(queue), 'null') using errcode = 'JD004';
  end if;
  if max_running is not null and (max_running < 1 or max_running > 100000) then
    raise exception 'max_running for queue "%" must be from 1 to 100000, or null to remove the limit; got %',
      queue, max_running using errcode = 'JD004';
  end if;
  if max_running is null then
    delete from jobdeck_private.concurrency_limits l where l.scope = 'queue' and l.key = set_queue_concurrency.queue;
  else
    insert into jobdeck_private.concurrency_limits as l (scope, key, max_running)
    values ('queue', set_queue_concurrency.queue, set_queue_concurrency.max_running)
    on conflict (scope, key) do update set max_running = excluded.max_running, updated_at = pg_catalog.now()
     where l.max_running is distinct from excluded.max_running;
  end if;
  perform jobdeck_private.release_held(null, array['queue:' || queue]);
  return max_running;
end;
$function$;
comment on function jobdeck.set_queue_concurrency(queue text, max_running integer) is 'At most max_running jobs of this queue run at once, across all workers; null removes the limit. Errors: JD004 bad argument.';
-- privileges on function jobdeck.set_queue_concurrency(queue text, max_running integer): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.set_queue_fairness(queue text, fairness text)
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if queue is null or pg_catalog.length(queue) < 1 or pg_catalog.length(queue) > 128 then
    raise exception 'queue must be a name of 1 to 128 characters, got %',
      coalesce(pg_catalog.quote_literal(queue), 'null') using errcode = 'JD004';
  end if;
  if fairness is not null and fairness not in ('org', 'off') then
    raise exception 'fairness for queue "%" must be ''org'', ''off'' or null to remove the setting; got %',
      queue, pg_catalog.quote_literal(fairness) using errcode = 'JD004';
  end if;
  if fairness is null then
    delete from jobdeck_private.queue_fairness f where f.queue = set_queue_fairness.queue;
  else
    insert into jobdeck_private.queue_fairness as f (queue, fairness)
    values (set_queue_fairness.queue, set_queue_fairness.fairness)
    on conflict on constraint queue_fairness_pkey do update set fairness = excluded.fairness, updated_at = pg_catalog.now()
     where f.fairness is distinct from excluded.fairness;
  end if;
  return fairness;
end;
$function$;
comment on function jobdeck.set_queue_fairness(queue text, fairness text) is 'Whether new jobs of this queue take turns by organisation (org) or run first-in first-out (off); null removes the setting. Errors: JD004 bad argument.';
-- privileges on function jobdeck.set_queue_fairness(queue text, fairness text): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.set_queue_rate_limit(queue text, max_starts integer, period interval, key_spec text DEFAULT NULL::text)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if queue is null or pg_catalog.length(queue) < 1 or pg_catalog.length(queue) > 128 then
    raise exception 'queue must be a name of 1 to 128 characters, got %',
      coalesce(pg_catalog.quote_literal(queue), 'null') using errcode = 'JD004';
  end if;
  if max_starts is not null and (max_starts < 1 or max_starts > 1000000) then
    raise exception 'max_starts for queue "%" must be from 1 to 1000000, or null to remove the rate limit; got %',
      queue, max_starts using errcode = 'JD004';
  end if;
  if max_starts is not null and (period is null or period < interval '1 millisecond' or period > interval '31 days') then
    raise exception 'period for queue "%" must be from 1 ms to 31 days, got %',
      queue, coalesce(period::text, 'null') using errcode = 'JD004';
  end if;
  if max_starts is not null and key_spec is not null and not (key_spec in ('org', 'owner')
       or (key_spec ~ '^payload:[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$' and pg_catalog.length(key_spec) <= 208)) then
    raise exception 'key_spec for queue "%" must be ''org'', ''owner'', ''payload:<dotted path>'' or null, got %',
      queue, pg_catalog.quote_literal(key_spec) using errcode = 'JD004';
  end if;
  if max_starts is null then
    delete from jobdeck_private.rate_limits l where l.scope = 'queue' and l.name = set_queue_rate_limit.queue;
  else
    insert into jobdeck_private.rate_limits as l (scope, name, max_starts, period, key_spec)
    values ('queue', set_queue_rate_limit.queue, set_queue_rate_limit.max_starts, set_queue_rate_limit.period,
            set_queue_rate_limit.key_spec)
    on conflict (scope, name) do update
      set max_starts = excluded.max_starts, period = excluded.period, key_spec = excluded.key_spec,
          updated_at = pg_catalog.now()
     where (l.max_starts, l.period, l.key_spec) is distinct from (excluded.max_starts, excluded.period, excluded.key_spec);
  end if;
  perform jobdeck_private.reset_rate_limit('queue', queue);
  return max_starts;
end;
$function$;
comment on function jobdeck.set_queue_rate_limit(queue text, max_starts integer, period interval, key_spec text) is 'At most max_starts jobs of this queue start per period, across all workers, per key when key_spec is set; null removes the limit. Errors: JD004 bad argument.';
-- privileges on function jobdeck.set_queue_rate_limit(queue text, max_starts integer, period interval, key_spec text): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.signal(target text, event text, data jsonb DEFAULT NULL::jsonb)
 RETURNS uuid
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_job jobdeck.jobs;
begin
  if target is null or target = '' then
    raise exception 'a job id or key is required' using errcode = 'JD004';
  end if;
  if event is null or length(event) not between 1 and 200 then
    raise exception 'event must be a non-empty string of at most 200 characters' using errcode = 'JD004';
  end if;
  if target ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    select * into v_job from jobdeck.jobs j where j.id = target::uuid for update;
  end if;
  if v_job.id is null then
    select * into v_job from jobdeck.jobs j
     where j.key = target and j.status in ('queued', 'running', 'retrying') for update;
  end if;
  if v_job.id is null then
    raise exception 'no job with id or unfinished job with key "%"', target using errcode = 'JD010';
  end if;
  if v_job.status in ('succeeded', 'failed', 'cancelled') then
    raise exception 'job % is % and waits for no signal', v_job.id, v_job.status
      using errcode = 'JD011', detail = json_build_object('status', v_job.status)::text;
  end if;
  insert into jobdeck_private.job_signals (job_id, event, data) values (v_job.id, signal.event, signal.data);
  if v_job.status in ('queued', 'retrying') and v_job.run_at > now()
     and exists (select 1 from jobdeck.job_steps s
                  where s.job_id = v_job.id and s.kind = 'wait' and s.completed_at is null
                    and s.wait_event = signal.event) then
    update jobdeck.jobs j set run_at = now(), updated_at = now() where j.id = v_job.id;
    if v_job.gw_job_id is not null then
      perform graphile_worker.reschedule_jobs(array[v_job.gw_job_id], run_at => now());
    end if;
  end if;
  return v_job.id;
end;
$function$;
comment on function jobdeck.signal(target text, event text, data jsonb) is 'Send a signal (event, data) to a job by id or key; a job parked in waitFor(event) is woken at once. Errors: JD004, JD010, JD011.';
-- privileges on function jobdeck.signal(target text, event text, data jsonb): jobdeck_system=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.task_category(type text)
 RETURNS text
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select t.category from jobdeck_private.task_types t where t.type = task_category.type
$function$;
comment on function jobdeck.task_category(type text) is 'The category a task type declares (import, export, validation, processing), or null.';
-- privileges on function jobdeck.task_category(type text): jobdeck_admin=EXECUTE jobdeck_user=EXECUTE

CREATE OR REPLACE FUNCTION jobdeck.wait_reason(held_at timestamp with time zone, held_reason text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
  select case
           when held_at is not null and held_reason like 'paused:%' then 'paused'
           when held_at is not null and held_reason like 'held: organisation %' then 'org_limit'
           when held_at is not null and held_reason like 'held: task type % concurrency limit for key %' then 'key_limit'
           when held_at is not null then 'concurrency_limit'
           when held_reason like 'rate limited:%' then 'rate_limit'
           when held_reason like 'rate limited by the task%' then 'task_rate_limit'
         end
$function$;
comment on function jobdeck.wait_reason(held_at timestamp with time zone, held_reason text) is 'Why a waiting job is kept back: paused, org_limit, key_limit, concurrency_limit, rate_limit, task_rate_limit, or null.';
-- privileges on function jobdeck.wait_reason(held_at timestamp with time zone, held_reason text): jobdeck_admin=EXECUTE jobdeck_anonymous=EXECUTE jobdeck_system=EXECUTE jobdeck_user=EXECUTE

-- ================================================================================================
create schema jobdeck_private;
-- privileges on schema jobdeck_private: owner only

create table jobdeck_private.concurrency_limits (
  scope text not null,
  key text not null,
  max_running integer not null,
  updated_at timestamp with time zone default now() not null,
  constraint concurrency_limits_pkey PRIMARY KEY (scope, key),
  constraint key_not_empty CHECK (((length(key) >= 1) AND (length(key) <= 128))),
  constraint max_running_positive CHECK ((max_running >= 1)),
  constraint scope_is_known CHECK ((scope = ANY (ARRAY['type'::text, 'queue'::text])))
);
alter table jobdeck_private.concurrency_limits enable row level security;
CREATE UNIQUE INDEX concurrency_limits_pkey ON jobdeck_private.concurrency_limits USING btree (scope, key);
CREATE TRIGGER _400_flow_rules_version AFTER INSERT OR UPDATE ON jobdeck_private.concurrency_limits FOR EACH STATEMENT EXECUTE FUNCTION jobdeck_private.tg_flow_rules__version();
comment on table jobdeck_private.concurrency_limits is 'At most max_running jobs of a task type (scope type; defineTask maxConcurrent) or a queue (scope queue; jobdeck.set_queue_concurrency) run at once, across all workers.';
-- privileges on table jobdeck_private.concurrency_limits: owner only

create table jobdeck_private.job_signals (
  id bigint generated always as identity not null,
  job_id uuid not null,
  event text not null,
  data jsonb,
  at timestamp with time zone default now() not null,
  consumed_at timestamp with time zone,
  consumed_by text,
  constraint event_length CHECK (((length(event) >= 1) AND (length(event) <= 200))),
  constraint job_signals_pkey PRIMARY KEY (id)
);
alter table jobdeck_private.job_signals enable row level security;
CREATE INDEX job_signals_job_idx ON jobdeck_private.job_signals USING btree (job_id);
CREATE UNIQUE INDEX job_signals_pkey ON jobdeck_private.job_signals USING btree (id);
CREATE INDEX job_signals_waiting_idx ON jobdeck_private.job_signals USING btree (job_id, event, id) WHERE (consumed_at IS NULL);
comment on table jobdeck_private.job_signals is 'Signals sent to jobs (jobdeck.signal), kept until a waitFor of the same event consumes them.';
-- privileges on table jobdeck_private.job_signals: owner only

create table jobdeck_private.jobs_default partition of jobdeck.jobs DEFAULT;
comment on table jobdeck_private.jobs_default is 'The safety net of jobdeck.jobs: a row whose history week has no partition yet. Normally empty.';
-- privileges on table jobdeck_private.jobs_default: owner only

create table jobdeck_private.jobs_live partition of jobdeck.jobs FOR VALUES FROM ('infinity') TO (MAXVALUE) with (fillfactor=80);
comment on table jobdeck_private.jobs_live is 'The partition of jobdeck.jobs holding every unfinished job and the recently finished ones (purge_on infinity).';
-- privileges on table jobdeck_private.jobs_live: owner only

create table jobdeck_private.migrations (
  id integer not null,
  name text not null,
  checksum text not null,
  applied_at timestamp with time zone default now() not null,
  constraint migrations_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX migrations_pkey ON jobdeck_private.migrations USING btree (id);
-- privileges on table jobdeck_private.migrations: owner only

create table jobdeck_private.notify_secret (
  singleton boolean default true not null,
  secret bytea not null,
  created_at timestamp with time zone default now() not null,
  constraint notify_secret_length CHECK ((octet_length(secret) = 32)),
  constraint notify_secret_pkey PRIMARY KEY (singleton),
  constraint notify_secret_singleton CHECK (singleton)
);
alter table jobdeck_private.notify_secret enable row level security;
CREATE UNIQUE INDEX notify_secret_pkey ON jobdeck_private.notify_secret USING btree (singleton);
comment on table jobdeck_private.notify_secret is 'The key NOTIFY channel names are hashed with (one row). Readable by the owner only: a role that can read it can listen to every tenant.';
-- privileges on table jobdeck_private.notify_secret: owner only

create table jobdeck_private.org_weights (
  org_id text not null,
  weight integer not null,
  updated_at timestamp with time zone default now() not null,
  constraint org_id_not_empty CHECK (((length(org_id) >= 1) AND (length(org_id) <= 256))),
  constraint org_weights_pkey PRIMARY KEY (org_id),
  constraint weight_in_range CHECK (((weight >= 1) AND (weight <= 10)))
);
alter table jobdeck_private.org_weights enable row level security;
CREATE UNIQUE INDEX org_weights_pkey ON jobdeck_private.org_weights USING btree (org_id);
comment on table jobdeck_private.org_weights is 'Weighted fair turns: an organisation of weight w (1 to 10) gets w turns for each turn of an organisation of weight 1.';
-- privileges on table jobdeck_private.org_weights: owner only

create table jobdeck_private.pauses (
  scope text not null,
  key text not null,
  reason text,
  paused_by text,
  paused_at timestamp with time zone default now() not null,
  constraint key_fits_scope CHECK ((((scope = 'all'::text) AND (key = ''::text)) OR ((scope <> 'all'::text) AND ((length(key) >= 1) AND (length(key) <= 128))))),
  constraint paused_by_length CHECK (((length(paused_by) >= 1) AND (length(paused_by) <= 200))),
  constraint pauses_pkey PRIMARY KEY (scope, key),
  constraint reason_length CHECK (((length(reason) >= 1) AND (length(reason) <= 1000))),
  constraint scope_is_known CHECK ((scope = ANY (ARRAY['queue'::text, 'type'::text, 'all'::text])))
);
alter table jobdeck_private.pauses enable row level security;
CREATE UNIQUE INDEX pauses_pkey ON jobdeck_private.pauses USING btree (scope, key);
CREATE TRIGGER _400_flow_rules_version AFTER INSERT OR UPDATE ON jobdeck_private.pauses FOR EACH STATEMENT EXECUTE FUNCTION jobdeck_private.tg_flow_rules__version();
comment on table jobdeck_private.pauses is 'Paused queues (scope queue), task types (scope type) and everything (scope all, key ''''): their jobs stay queued and none starts, on any worker, until the row is deleted (jobdeck.resume_*).';
-- privileges on table jobdeck_private.pauses: owner only

create table jobdeck_private.queue_fairness (
  queue text not null,
  fairness text not null,
  updated_at timestamp with time zone default now() not null,
  constraint fairness_is_known CHECK ((fairness = ANY (ARRAY['org'::text, 'off'::text]))),
  constraint queue_fairness_pkey PRIMARY KEY (queue),
  constraint queue_not_empty CHECK (((length(queue) >= 1) AND (length(queue) <= 128)))
);
alter table jobdeck_private.queue_fairness enable row level security;
CREATE UNIQUE INDEX queue_fairness_pkey ON jobdeck_private.queue_fairness USING btree (queue);
comment on table jobdeck_private.queue_fairness is 'Whether jobs of a queue take turns by organisation (org) or run first-in first-out (off); wins over the task type''s defineTask fairness.';
-- privileges on table jobdeck_private.queue_fairness: owner only

create table jobdeck_private.rate_buckets (
  scope text not null,
  name text not null,
  key text default ''::text not null,
  tat timestamp with time zone not null,
  reserved_to timestamp with time zone default '-infinity'::timestamp with time zone not null,
  constraint rate_buckets_pkey PRIMARY KEY (scope, name, key),
  constraint rate_buckets_scope_name_fkey FOREIGN KEY (scope, name) REFERENCES jobdeck_private.rate_limits(scope, name) ON DELETE CASCADE
);
alter table jobdeck_private.rate_buckets enable row level security;
CREATE UNIQUE INDEX rate_buckets_pkey ON jobdeck_private.rate_buckets USING btree (scope, name, key);
comment on table jobdeck_private.rate_buckets is 'GCRA state of each rate limit (and key): tat is the earliest time its next job may start.';
comment on column jobdeck_private.rate_buckets.reserved_to is 'The slot the next job this limit puts back is given (its run_at); at least tat.';
-- privileges on table jobdeck_private.rate_buckets: owner only

create table jobdeck_private.rate_limits (
  scope text not null,
  name text not null,
  max_starts integer not null,
  period interval not null,
  key_spec text,
  updated_at timestamp with time zone default now() not null,
  constraint key_spec_is_known CHECK (((key_spec IS NULL) OR (key_spec = ANY (ARRAY['org'::text, 'owner'::text])) OR (key_spec ~ '^payload:[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$'::text))),
  constraint max_starts_in_range CHECK (((max_starts >= 1) AND (max_starts <= 1000000))),
  constraint period_in_range CHECK (((period >= '00:00:00.001'::interval) AND (period <= '31 days'::interval))),
  constraint rate_limits_pkey PRIMARY KEY (scope, name),
  constraint rate_name_not_empty CHECK (((length(name) >= 1) AND (length(name) <= 128))),
  constraint rate_scope_is_known CHECK ((scope = ANY (ARRAY['type'::text, 'queue'::text])))
);
alter table jobdeck_private.rate_limits enable row level security;
CREATE UNIQUE INDEX rate_limits_pkey ON jobdeck_private.rate_limits USING btree (scope, name);
CREATE TRIGGER _400_flow_rules_version AFTER INSERT OR UPDATE ON jobdeck_private.rate_limits FOR EACH STATEMENT EXECUTE FUNCTION jobdeck_private.tg_flow_rules__version();
comment on table jobdeck_private.rate_limits is 'At most max_starts jobs of a task type (scope type; defineTask rateLimit) or a queue (scope queue; jobdeck.set_queue_rate_limit) start per period, across all workers; per key when key_spec is set.';
-- privileges on table jobdeck_private.rate_limits: owner only

create table jobdeck_private.settings (
  name text not null,
  value jsonb not null,
  updated_at timestamp with time zone default now() not null,
  constraint settings_pkey PRIMARY KEY (name)
);
alter table jobdeck_private.settings enable row level security;
CREATE UNIQUE INDEX settings_pkey ON jobdeck_private.settings USING btree (name);
CREATE TRIGGER _400_flow_rules_version AFTER INSERT OR UPDATE ON jobdeck_private.settings FOR EACH ROW WHEN ((new.name = 'org_concurrency'::text)) EXECUTE FUNCTION jobdeck_private.tg_flow_rules__version();
-- privileges on table jobdeck_private.settings: owner only

create table jobdeck_private.sql_files (
  path text not null,
  checksum text not null,
  version text not null,
  applied_at timestamp with time zone default now() not null,
  constraint sql_files_pkey PRIMARY KEY (path)
);
CREATE UNIQUE INDEX sql_files_pkey ON jobdeck_private.sql_files USING btree (path);
comment on table jobdeck_private.sql_files is 'The sql/ files applied to this database and their checksums; migrate re-applies a file whose text changed.';
-- privileges on table jobdeck_private.sql_files: owner only

create table jobdeck_private.task_types (
  type text not null,
  payload_schema jsonb,
  max_attempts integer default 3 not null,
  max_payload_bytes integer default 1048576 not null,
  description text,
  updated_at timestamp with time zone default now() not null,
  backoff jsonb,
  timeout_ms integer,
  cancel_grace_ms integer,
  org_concurrency integer,
  median_ms bigint,
  stats_at timestamp with time zone,
  webhook_url text,
  api_enqueue boolean default true not null,
  category text,
  notify_email jsonb,
  key_concurrency integer,
  concurrency_key_spec text,
  fairness text,
  constraint category_is_known CHECK ((category = ANY (ARRAY['import'::text, 'export'::text, 'validation'::text, 'processing'::text]))),
  constraint concurrency_key_spec_is_known CHECK (((concurrency_key_spec IS NULL) OR (concurrency_key_spec = ANY (ARRAY['org'::text, 'owner'::text])) OR (concurrency_key_spec ~ '^payload:[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$'::text))),
  constraint fairness_is_known CHECK ((fairness = ANY (ARRAY['org'::text, 'off'::text]))),
  constraint key_concurrency_has_key CHECK (((key_concurrency IS NULL) = (concurrency_key_spec IS NULL))),
  constraint key_concurrency_positive CHECK ((key_concurrency >= 1)),
  constraint notify_email_is_object CHECK ((jsonb_typeof(notify_email) = 'object'::text)),
  constraint org_concurrency_positive CHECK ((org_concurrency >= 1)),
  constraint task_types_pkey PRIMARY KEY (type)
);
alter table jobdeck_private.task_types enable row level security;
CREATE UNIQUE INDEX task_types_pkey ON jobdeck_private.task_types USING btree (type);
CREATE TRIGGER _400_flow_rules_version AFTER UPDATE ON jobdeck_private.task_types FOR EACH ROW WHEN ((((new.org_concurrency IS NOT NULL) AND (new.org_concurrency IS DISTINCT FROM old.org_concurrency)) OR ((new.key_concurrency IS NOT NULL) AND (new.key_concurrency IS DISTINCT FROM old.key_concurrency)))) EXECUTE FUNCTION jobdeck_private.tg_flow_rules__version();
CREATE TRIGGER _400_flow_rules_version_insert AFTER INSERT ON jobdeck_private.task_types FOR EACH ROW WHEN (((new.org_concurrency IS NOT NULL) OR (new.key_concurrency IS NOT NULL))) EXECUTE FUNCTION jobdeck_private.tg_flow_rules__version();
comment on column jobdeck_private.task_types.category is 'What kind of work the type does (import, export, validation, processing); null: none declared.';
comment on column jobdeck_private.task_types.notify_email is 'The task type''s e-mail notification (its notify option), used when a job has none of its own.';
-- privileges on table jobdeck_private.task_types: owner only

create table jobdeck_private.workers (
  id text not null,
  pool_id text,
  hostname text not null,
  pid integer not null,
  concurrency integer not null,
  task_types text[] default '{}'::text[] not null,
  started_at timestamp with time zone default now() not null,
  heartbeat_at timestamp with time zone default now() not null,
  stopping_at timestamp with time zone,
  rss_bytes bigint,
  running_jobs integer default 0 not null,
  reads_start_data boolean default false not null,
  constraint workers_pkey PRIMARY KEY (id)
);
alter table jobdeck_private.workers enable row level security;
CREATE UNIQUE INDEX workers_pkey ON jobdeck_private.workers USING btree (id);
comment on column jobdeck_private.workers.reads_start_data is 'Whether the worker starts a job from the start data in its Graphile job (migration 000025); while a worker without it is registered, no job gets start data.';
-- privileges on table jobdeck_private.workers: owner only

create sequence jobdeck_private.job_signals_id_seq as bigint increment 1 minvalue 1 maxvalue 9223372036854775807 start 1 cache 1;
-- owned by jobdeck_private.job_signals.id (identity)
-- privileges on sequence jobdeck_private.job_signals_id_seq: owner only

CREATE OR REPLACE FUNCTION jobdeck_private.add_checked_job(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb)
 RETURNS jobdeck.jobs
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_job jobdeck.jobs;
begin
  if key is null then
    return jobdeck_private.insert_job(type, payload, priority, run_at, max_attempts, null, queue, owner_id,
                                      org_id, related_type, related_id, metadata);
  end if;
  select * into v_job from jobdeck.jobs j
   where j.key = add_checked_job.key and j.status in ('queued', 'running', 'retrying')
     and j.purge_on = 'infinity';  -- a literal: planned against jobs_live only (000024)
  if found then
    return v_job;
  end if;
  begin
    return jobdeck_private.insert_job(type, payload, priority, run_at, max_attempts, key, queue, owner_id,
                                      org_id, related_type, related_id, metadata);
  exception when unique_violation then
    select * into v_job from jobdeck.jobs j
     where j.key = add_checked_job.key and j.status in ('queued', 'running', 'retrying');
    return v_job;
  end;
end;
$function$;
-- privileges on function jobdeck_private.add_checked_job(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.add_keyed_job(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, key_mode text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb)
 RETURNS jobdeck.jobs
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_job  jobdeck.jobs;
  v_try  integer := 0;
begin
  loop
    v_try := v_try + 1;
    select * into v_job from jobdeck.jobs j
     where j.key = add_keyed_job.key and j.status in ('queued', 'running', 'retrying')
       and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
       for update;
    if found then
      if key_mode = 'keep' then
        return v_job;
      end if;
      if v_job.type <> add_keyed_job.type then
        raise exception 'key "%" is held by job % of type "%", not "%"', key, v_job.id, v_job.type, type
          using errcode = 'JD004';
      end if;
      if v_job.status = 'running' then
        update jobdeck.jobs j set key = null, updated_at = now() where j.id = v_job.id;
        insert into jobdeck.job_events (job_id, kind, level, message, attempt)
        values (v_job.id, 'control', 'info', 'key "' || key || '" passed to a newer job (replace)', v_job.attempts);
      else
        update jobdeck.jobs j
           set payload = add_keyed_job.payload, priority = add_keyed_job.priority,
               run_at = coalesce(add_keyed_job.run_at, now()), max_attempts = add_keyed_job.max_attempts,
               owner_id = add_keyed_job.owner_id, org_id = add_keyed_job.org_id,
               related_type = add_keyed_job.related_type, related_id = add_keyed_job.related_id,
               metadata = add_keyed_job.metadata, updated_at = now(),
               (concurrency_key, rate_key, queue_rate_key) = (
                 select lk.concurrency_key, lk.rate_key, lk.queue_rate_key
                   from jobdeck_private.job_limit_keys(add_keyed_job.type, add_keyed_job.org_id,
                          add_keyed_job.owner_id, add_keyed_job.payload, null, j.queue) lk),
               fair_at = case when add_keyed_job.run_at > now() then null else j.fair_at end
         where j.id = v_job.id returning j.* into v_job;
        if v_job.gw_job_id is not null then
          perform graphile_worker.reschedule_jobs(array[v_job.gw_job_id], run_at => coalesce(v_job.fair_at, v_job.run_at),
                                                  priority => v_job.priority);
        elsif v_job.held_at is not null then
          -- Held by a cap: with its new organisation and options it goes through admission again.
          update jobdeck.jobs j
             set held_at = null,
                 gw_job_id = (graphile_worker.add_job(identifier => v_job.type,
                                payload => json_build_object('jobdeckId', v_job.id),
                                queue_name => jobdeck_private.graphile_queue(v_job.queue),
                                run_at => coalesce(v_job.fair_at, v_job.run_at), max_attempts => 25,
                                priority => v_job.priority)).id
           where j.id = v_job.id returning j.* into v_job;
        end if;
        insert into jobdeck.job_events (job_id, kind, level, message, attempt)
        values (v_job.id, 'control', 'info', 'replaced by a newer enqueue with key "' || key || '"', v_job.attempts);
        return v_job;
      end if;
    end if;
    begin
      return jobdeck_private.insert_job(type, payload, priority, run_at, max_attempts, key, queue, owner_id,
                                        org_id, related_type, related_id, metadata);
    exception when unique_violation then
      if v_try >= 3 then
        raise;
      end if;
      -- a concurrent enqueue took the key: go round again and apply keep/replace to its job
    end;
  end loop;
end;
$function$;
-- privileges on function jobdeck_private.add_keyed_job(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, key_mode text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.admit_jobs(job_ids uuid[], count_waiting boolean)
 RETURNS TABLE(id uuid, admitted boolean, reason text)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_paused uuid[] := jobdeck_private.paused_job_ids(job_ids);
begin
  if v_paused is not null then
    return query
    select j.id, false, jobdeck_private.pause_reason(j.type, j.queue)
      from jobdeck.jobs j where j.id = any(v_paused);
    job_ids := array(select x from unnest(job_ids) x where x <> all(v_paused));
  end if;
  return query
  with cand as (
    select j.id, j.org_id, j.type, j.queue, j.priority, j.run_at, j.created_at,
           t.org_concurrency as type_org_cap, c.cap as org_cap,
           (j.org_id is not null and (c.cap is not null or t.org_concurrency is not null)) as org_capped,
           lt.max_running as type_limit, lq.max_running as queue_limit
      from jobdeck.jobs j
     cross join (select jobdeck_private.org_cap() as cap) c
      left join jobdeck_private.task_types t on t.type = j.type
      left join jobdeck_private.concurrency_limits lt on lt.scope = 'type' and lt.key = j.type
      left join jobdeck_private.concurrency_limits lq on lq.scope = 'queue' and lq.key = j.queue
     where j.id = any(job_ids)
  ), dims as (
    select array_agg(distinct c.org_id) filter (where c.org_capped) as orgs,
           array_agg(distinct c.type) filter (where c.type_limit is not null) as types,
           array_agg(distinct c.queue) filter (where c.queue_limit is not null) as queues
      from cand c
  ), busy as (
    select x.org_id, x.type, x.queue
      from jobdeck.jobs x, dims d
     where x.status = 'running' and x.id <> all(job_ids)
       and (x.org_id = any(d.orgs) or x.type = any(d.types) or x.queue = any(d.queues))
    union all
    select x.org_id, x.type, x.queue
      from jobdeck.jobs x, dims d
     where count_waiting and x.status in ('queued', 'retrying') and x.held_at is null
       and x.gw_job_id is not null and x.run_at <= now() and x.id <> all(job_ids)
       and (x.org_id = any(d.orgs) or x.type = any(d.types) or x.queue = any(d.queues))
  ), r1 as (
    select c.*, row_number() over (partition by c.org_id, c.type
                                   order by c.priority, c.run_at, c.created_at, c.id) as rn
      from cand c
  ), s1 as (
    select r1.* from r1
     where not r1.org_capped or r1.type_org_cap is null
        or (select count(*) from busy b where b.org_id = r1.org_id and b.type = r1.type) + r1.rn <= r1.type_org_cap
  ), r2 as (
    select s1.id, s1.org_id, s1.type, s1.queue, s1.priority, s1.run_at, s1.created_at, s1.org_cap,
           s1.org_capped, s1.type_limit, s1.queue_limit,
           row_number() over (partition by s1.org_id order by s1.priority, s1.run_at, s1.created_at, s1.id) as rn
      from s1
  ), s2 as (
    select r2.* from r2
     where not r2.org_capped or r2.org_cap is null
        or (select count(*) from busy b where b.org_id = r2.org_id) + r2.rn <= r2.org_cap
  ), r3 as (
    select s2.id, s2.type, s2.queue, s2.priority, s2.run_at, s2.created_at, s2.type_limit, s2.queue_limit,
           row_number() over (partition by s2.type order by s2.priority, s2.run_at, s2.created_at, s2.id) as rn
      from s2
  ), s3 as (
    select r3.* from r3
     where r3.type_limit is null
        or (select count(*) from busy b where b.type = r3.type) + r3.rn <= r3.type_limit
  ), r4 as (
    select s3.id, s3.queue, s3.queue_limit,
           row_number() over (partition by s3.queue order by s3.priority, s3.run_at, s3.created_at, s3.id) as rn
      from s3
  ), s4 as (
    select r4.id from r4
     where r4.queue_limit is null
        or (select count(*) from busy b where b.queue = r4.queue) + r4.rn <= r4.queue_limit
  )
  select c.id, s4.id is not null,
         case
           when s4.id is not null then null
           when not exists (select 1 from s1 where s1.id = c.id) then
             format('held: organisation "%s" is at its concurrency limit for task type "%s" (%s)',
                    c.org_id, c.type, c.type_org_cap)
           when not exists (select 1 from s2 where s2.id = c.id) then
             format('held: organisation "%s" is at its concurrency limit (%s)', c.org_id, c.org_cap)
           when not exists (select 1 from s3 where s3.id = c.id) then
             format('held: task type "%s" is at its concurrency limit (%s)', c.type, c.type_limit)
           else format('held: queue "%s" is at its concurrency limit (%s)', c.queue, c.queue_limit)
         end
    from cand c left join s4 on s4.id = c.id;
end;
$function$;
-- privileges on function jobdeck_private.admit_jobs(job_ids uuid[], count_waiting boolean): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.admit_keyed(job_ids uuid[], count_waiting boolean)
 RETURNS TABLE(id uuid, admitted boolean, reason text)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
begin
  return query
  with cand as (
    select j.id, j.type, j.concurrency_key, t.key_concurrency,
           row_number() over (partition by j.type, j.concurrency_key
                              order by j.priority, j.run_at, j.created_at, j.id) as rn
      from jobdeck.jobs j
      left join jobdeck_private.task_types t on t.type = j.type
     where j.id = any(job_ids)
  )
  select c.id, ok.v,
         case when not ok.v then
           format('held: task type "%s" is at its concurrency limit for key "%s" (%s)',
                  c.type, coalesce(c.concurrency_key, ''), c.key_concurrency)
         end
    from cand c
   cross join lateral (
     select c.key_concurrency is null
            or (select count(*) from jobdeck.jobs x
                 where x.type = c.type and x.concurrency_key is not distinct from c.concurrency_key
                   and x.id <> all(job_ids)
                   and (x.status = 'running'
                        or (count_waiting and x.status in ('queued', 'retrying') and x.held_at is null
                            and x.gw_job_id is not null and x.run_at <= now()))) + c.rn <= c.key_concurrency as v
   ) ok;
end;
$function$;
-- privileges on function jobdeck_private.admit_keyed(job_ids uuid[], count_waiting boolean): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.admit_rated(job_ids uuid[])
 RETURNS TABLE(id uuid, admitted boolean, start_at timestamp with time zone, next_at timestamp with time zone, wake_at timestamp with time zone, reason text, first_wait boolean)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
#variable_conflict use_column
declare
  v_now    timestamptz := now();
  v_ids    text[] := '{}';
  v_scope  text[] := '{}';
  v_name   text[] := '{}';
  v_key    text[] := '{}';
  v_tat    timestamptz[] := '{}';
  v_res    timestamptz[] := '{}';
  v_step   interval[] := '{}';
  v_grace  interval[] := '{}';
  v_lead   interval[] := '{}';
  v_wake   interval;
  v_label  text[] := '{}';
  v_b      record;
  v_job    record;
  v_i      integer;
  v_ok     boolean;
  v_slot   timestamptz;
  v_worst  integer;
  v_want   integer;
  v_try    integer := 0;
begin
  if coalesce(cardinality(job_ids), 0) = 0 then
    return;
  end if;

  -- Create the missing buckets, then lock them all. A bucket deleted in between (pruneJobs drops
  -- long-idle ones) is created again: go round until every bucket is locked.
  loop
    v_try := v_try + 1;
    v_ids := '{}'; v_scope := '{}'; v_name := '{}'; v_key := '{}'; v_tat := '{}'; v_res := '{}';
    v_step := '{}'; v_grace := '{}'; v_lead := '{}'; v_label := '{}';
    insert into jobdeck_private.rate_buckets as b (scope, name, key, tat)
    select m.scope, m.name, m.key, '-infinity'::timestamptz
      from (select distinct l.scope, l.name,
                   case when l.key_spec is null then '' when l.scope = 'queue' then coalesce(j.queue_rate_key, '')
                        else coalesce(j.rate_key, '') end as key
              from jobdeck.jobs j
              join jobdeck_private.rate_limits l
                on (l.scope = 'type' and l.name = j.type) or (l.scope = 'queue' and l.name = j.queue)
             where j.id = any(job_ids)) m
     order by m.scope, m.name, m.key
    on conflict do nothing;

    for v_b in
      select b.scope, b.name, b.key, b.tat, b.reserved_to, g.grace,
             -- rounded up to the microsecond, so slots are never closer than the bound needs
             make_interval(secs => ceil(extract(epoch from l.period + g.grace) * 1000000 / l.max_starts) / 1000000)
               as step,
             format('%s "%s"%s (%s per %s s)', case l.scope when 'type' then 'task type' else 'queue' end, l.name,
                    case when l.key_spec is null then '' else format(' key "%s"', b.key) end, l.max_starts,
                    rtrim(to_char(extract(epoch from l.period), 'FM999999990.999'), '.')) as label
        from jobdeck_private.rate_buckets b
        join jobdeck_private.rate_limits l on l.scope = b.scope and l.name = b.name
        cross join lateral (
          select least(greatest(l.period / 20, interval '50 milliseconds'), l.period / 2) as grace) g
       where (b.scope, b.name, b.key) in (
               select l2.scope, l2.name, case when l2.key_spec is null then '' when l2.scope = 'queue' then coalesce(j.queue_rate_key, '')
                        else coalesce(j.rate_key, '') end
                 from jobdeck.jobs j
                 join jobdeck_private.rate_limits l2
                   on (l2.scope = 'type' and l2.name = j.type) or (l2.scope = 'queue' and l2.name = j.queue)
                where j.id = any(job_ids))
       order by b.scope, b.name, b.key
         for update of b
    loop
      v_ids := v_ids || (v_b.scope || chr(31) || v_b.name || chr(31) || v_b.key);
      v_scope := v_scope || v_b.scope;
      v_name := v_name || v_b.name;
      v_key := v_key || v_b.key;
      v_tat := v_tat || v_b.tat;
      v_res := v_res || v_b.reserved_to;
      v_step := v_step || v_b.step;
      v_grace := v_grace || v_b.grace;
      v_lead := v_lead || least(v_b.grace * 4, interval '250 milliseconds');
      v_label := v_label || v_b.label;
    end loop;
    select count(*) into v_want
      from (select distinct l.scope, l.name, case when l.key_spec is null then '' when l.scope = 'queue' then coalesce(j.queue_rate_key, '')
                        else coalesce(j.rate_key, '') end
              from jobdeck.jobs j
              join jobdeck_private.rate_limits l
                on (l.scope = 'type' and l.name = j.type) or (l.scope = 'queue' and l.name = j.queue)
             where j.id = any(job_ids)) m;
    exit when cardinality(v_ids) >= v_want;
    if v_try >= 3 then
      raise exception 'rate limit buckets kept disappearing while being locked' using errcode = '40001';
    end if;
  end loop;

  for v_i in 1 .. cardinality(v_tat) loop
    v_tat[v_i] := greatest(v_tat[v_i], v_now - v_grace[v_i]);
    v_res[v_i] := greatest(v_res[v_i], v_tat[v_i]);
  end loop;

  for v_job in
    select j.id, (j.held_reason is null or j.held_reason not like 'rate limited:%') as first_wait,
           array(select array_position(v_ids, l.scope || chr(31) || l.name || chr(31)
                                              || case when l.key_spec is null then '' when l.scope = 'queue' then coalesce(j.queue_rate_key, '')
                        else coalesce(j.rate_key, '') end)
                   from jobdeck_private.rate_limits l
                  where (l.scope = 'type' and l.name = j.type) or (l.scope = 'queue' and l.name = j.queue)) as buckets
      from jobdeck.jobs j
     where j.id = any(job_ids)
     order by coalesce(j.held_reason like 'rate limited:%', false) desc, j.priority, j.run_at, j.created_at, j.id
  loop
    id := v_job.id;
    first_wait := v_job.first_wait;
    v_ok := true;
    start_at := v_now;
    foreach v_i in array v_job.buckets loop
      if v_job.first_wait then
        -- a newcomer: a slot due now, and none a job put back waits for
        if v_tat[v_i] > v_now or v_tat[v_i] < v_res[v_i] then
          v_ok := false;
        end if;
      elsif v_tat[v_i] > v_now + v_lead[v_i] then
        v_ok := false;
      else
        start_at := greatest(start_at, v_tat[v_i]);
      end if;
    end loop;
    if v_ok then
      foreach v_i in array v_job.buckets loop
        if start_at > v_tat[v_i] + v_grace[v_i] then
          v_ok := false;  -- its buckets' slots lie too far apart to start within each one's grace
        end if;
      end loop;
    end if;
    if v_ok then
      foreach v_i in array v_job.buckets loop
        v_tat[v_i] := v_tat[v_i] + v_step[v_i];
        v_res[v_i] := greatest(v_res[v_i], v_tat[v_i]);
      end loop;
      admitted := true;
      start_at := case when start_at > v_now then start_at end;
      next_at := null;
      wake_at := null;
      reason := null;
    else
      v_slot := null;
      v_wake := interval '0';
      foreach v_i in array v_job.buckets loop
        if v_slot is null or v_res[v_i] > v_slot then
          v_slot := v_res[v_i];
          v_worst := v_i;
        end if;
        v_wake := greatest(v_wake, v_lead[v_i]);
      end loop;
      foreach v_i in array v_job.buckets loop
        v_res[v_i] := greatest(v_res[v_i], v_slot) + v_step[v_i];
      end loop;
      -- never before now: the slot may already be due (held by another job put back)
      v_slot := greatest(v_slot, v_now);
      admitted := false;
      start_at := null;
      next_at := v_slot;
      wake_at := greatest(v_slot - v_wake, v_now);
      reason := format('rate limited: %s, next at %s', v_label[v_worst],
                       to_char(v_slot at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
    end if;
    return next;
  end loop;

  update jobdeck_private.rate_buckets b
     set tat = u.tat, reserved_to = u.reserved_to
    from unnest(v_scope, v_name, v_key, v_tat, v_res) as u(scope, name, key, tat, reserved_to)
   where b.scope = u.scope and b.name = u.name and b.key = u.key
     and (b.tat, b.reserved_to) is distinct from (u.tat, u.reserved_to);
end;
$function$;
-- privileges on function jobdeck_private.admit_rated(job_ids uuid[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.api_enqueue_key(type text, priority integer, max_attempts integer, key text, refused text)
 RETURNS text
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if key is not null and (length(key) < 1 or length(key) > 400) then
    raise exception 'key must be 1 to 400 characters, got %', length(key) using errcode = 'JD004';
  end if;
  if jobdeck_private.caller_scope() <> 'all' then
    if priority is not null and priority not between -20 and 10 then
      raise exception 'priority must be from -20 (urgent) to 10 (low), got %', priority using errcode = 'JD004';
    end if;
    if max_attempts is not null and max_attempts not between 1 and 25 then
      raise exception 'max_attempts must be from 1 to 25, got %', max_attempts using errcode = 'JD004';
    end if;
    if exists (select 1 from jobdeck_private.task_types t where t.type = api_enqueue_key.type and not t.api_enqueue) then
      raise exception '%', refused using errcode = '42501';
    end if;
  end if;
  return case when key is null then null
              else 'u:' || md5(json_build_array(jobdeck.current_org_id(), jobdeck.current_user_id())::text) || ':' || key end;
end;
$function$;
-- privileges on function jobdeck_private.api_enqueue_key(type text, priority integer, max_attempts integer, key text, refused text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.authorize_job(job_id uuid, permission text)
 RETURNS void
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_scope text := jobdeck_private.caller_scope();
begin
  if v_scope = 'all' then
    return;
  elsif v_scope = 'none' and session_user = 'jobdeck_api' then
    raise exception 'sign in first: this needs a bearer token' using errcode = '42501';
  elsif v_scope = 'none' then
    raise exception 'permission denied: role % may not act on jobdeck jobs (grant it jobdeck_system to make it trusted; docs/security.md)',
      coalesce(nullif(pg_catalog.current_setting('role', true), 'none'), session_user) using errcode = '42501';
  elsif not jobdeck.current_user_can(permission) then
    raise exception 'permission denied: your token lacks %', permission using errcode = '42501';
  end if;
  if job_id is not null and not exists (
    select 1 from jobdeck.jobs j
     where j.id = authorize_job.job_id
       and j.org_id = jobdeck.current_org_id()
       and (v_scope = 'org' or j.owner_id = jobdeck.current_user_id())
  ) then
    raise exception 'job % not found', job_id using errcode = 'JD010';
  end if;
end;
$function$;
-- privileges on function jobdeck_private.authorize_job(job_id uuid, permission text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.begin_jobs(items jsonb, worker_id text)
 RETURNS SETOF jobdeck.jobs
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_rows   jobdeck.jobs[];
  v_ids    uuid[] := array(select (e ->> 'id')::uuid from jsonb_array_elements(items) e where e ->> 'id' is not null);
  v_cap    integer := jobdeck_private.org_cap();
  v_capped boolean;
begin
  -- With no concurrency cap, limit or pause anywhere (the common case) no row needs its type
  -- looked at. One statement for all the checks: each statement of a PL/pgSQL function is a
  -- round of the executor, and this runs for every start batch.
  select v_cap is not null
         or exists (select 1 from jobdeck_private.task_types t
                     where t.org_concurrency is not null or t.key_concurrency is not null)
         or exists (select 1 from jobdeck_private.concurrency_limits)
         or exists (select 1 from jobdeck_private.rate_limits)
         or exists (select 1 from jobdeck_private.pauses)
    into v_capped;
  -- Rows by primary key only (`|| ''` and `+ 0` keep a partial index from being implied: on a
  -- busy table the planner, misled by stale statistics, would walk the waiting jobs instead).
  select array_agg(j order by j.id) into v_rows
    from jobdeck.jobs j
    join jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint) on v.id = j.id
   where j.id = any(v_ids)
     and (j.status || '') in ('queued', 'retrying') and j.held_at is null and j.gw_job_id + 0 = v.gw_job_id
     and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
     and (not v_capped
          or ((j.org_id is null
               or (v_cap is null
                   and not exists (select 1 from jobdeck_private.task_types t
                                    where t.type = j.type and t.org_concurrency is not null)))
              and not exists (select 1 from jobdeck_private.concurrency_limits l
                               where (l.scope = 'type' and l.key = j.type)
                                  or (l.scope = 'queue' and l.key = j.queue))
              -- per-key concurrency and rate limits (issue 20)
              and not exists (select 1 from jobdeck_private.task_types t
                               where t.type = j.type and t.key_concurrency is not null)
              and not exists (select 1 from jobdeck_private.rate_limits l
                               where (l.scope = 'type' and l.name = j.type)
                                  or (l.scope = 'queue' and l.name = j.queue))
              and jobdeck_private.pause_reason(j.type, j.queue) is null));

  if v_rows is not null then
    return query select * from unnest(v_rows);
  end if;
  -- Everything else (capped jobs, jobs added straight to Graphile Worker, rows that moved on)
  -- goes through start_jobs, which decides under the caps' locks.
  if jsonb_array_length(items) > coalesce(cardinality(v_rows), 0) then
    return query
    select s.* from jobdeck_private.start_jobs(
      (select jsonb_agg(e) from jsonb_array_elements(items) e
        where (e ->> 'id') is null or v_rows is null
           or not exists (select 1 from unnest(v_rows) r where r.id = (e ->> 'id')::uuid)),
      worker_id) s;
  end if;
end;
$function$;
-- privileges on function jobdeck_private.begin_jobs(items jsonb, worker_id text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.caller_scope()
 RETURNS text
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_role name := coalesce(nullif(pg_catalog.current_setting('role', true), 'none'), session_user);
begin
  if session_user = 'jobdeck_api' then
    return case v_role when 'jobdeck_admin' then 'org' when 'jobdeck_user' then 'own' else 'none' end;
  -- cheapest first (each or stops at the first true): pg_has_role reads the role caches (and
  -- counts a superuser as a member of every role), the owner's name one catalog index; pg_roles,
  -- a view over two catalogs, comes last. An enqueue pays this once (docs/performance.md).
  elsif pg_catalog.pg_has_role(v_role, 'jobdeck_system', 'member')
     or v_role = pg_catalog.pg_get_userbyid((select n.nspowner from pg_catalog.pg_namespace n
                                              where n.nspname = 'jobdeck'))
     or coalesce((select r.rolsuper from pg_catalog.pg_roles r where r.rolname = v_role), false) then
    return 'all';
  end if;
  return 'none';
end;
$function$;
-- privileges on function jobdeck_private.caller_scope(): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.cancel_batch(batch_id uuid, reason text DEFAULT NULL::text)
 RETURNS jobdeck.batches
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_batch jobdeck.batches;
  v_id    uuid;
  v_old   text := pg_catalog.current_setting('jobdeck.counting_batch', true);
  v_s     integer;
  v_f     integer;
  v_c     integer;
begin
  if batch_id is null then
    raise exception 'batch id is required' using errcode = 'JD004';
  end if;
  if not exists (select 1 from jobdeck.batches b where b.id = cancel_batch.batch_id) then
    raise exception 'batch % not found', batch_id using errcode = 'JD010';
  end if;
  perform pg_catalog.set_config('jobdeck.counting_batch', batch_id::pg_catalog.text, true);
  for v_id in
    select j.id from jobdeck.jobs j
     where j.batch_id = cancel_batch.batch_id and j.status in ('queued', 'retrying', 'running')
     order by j.id
  loop
    begin
      perform jobdeck_private.cancel_job(v_id, coalesce(reason, 'batch cancelled'));
    exception when sqlstate 'JD011' then
      null; -- finished meanwhile
    end;
  end loop;
  perform pg_catalog.set_config('jobdeck.counting_batch', coalesce(v_old, ''), true);

  select * into v_batch from jobdeck.batches b where b.id = cancel_batch.batch_id for update;
  select (pg_catalog.count(*) filter (where j.status = 'succeeded'))::integer,
         (pg_catalog.count(*) filter (where j.status = 'failed'))::integer,
         (pg_catalog.count(*) filter (where j.status = 'cancelled'))::integer
    into v_s, v_f, v_c
    from jobdeck.jobs j where j.batch_id = cancel_batch.batch_id;
  update jobdeck.batches b set cancel_requested_at = coalesce(b.cancel_requested_at, pg_catalog.now())
   where b.id = cancel_batch.batch_id;
  -- the difference goes through count_batches, which finishes the batch if it is now complete
  perform jobdeck_private.count_batches(array[batch_id], array[v_s - v_batch.succeeded],
                                        array[v_f - v_batch.failed], array[v_c - v_batch.cancelled]);
  select * into v_batch from jobdeck.batches b where b.id = cancel_batch.batch_id;
  return v_batch;
end;
$function$;
comment on function jobdeck_private.cancel_batch(batch_id uuid, reason text) is 'Cancel every unfinished job of a batch (running ones through their worker). Errors: JD010 not found.';
-- privileges on function jobdeck_private.cancel_batch(batch_id uuid, reason text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.cancel_job(job_id uuid, reason text DEFAULT NULL::text)
 RETURNS jobdeck.jobs
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_job  jobdeck.jobs;
  v_keys text[];
begin
  if job_id is null then
    raise exception 'job id is required' using errcode = 'JD004';
  end if;
  if reason is not null and pg_catalog.length(reason) > 1000 then
    raise exception 'cancel reason must be at most 1000 characters, got %', pg_catalog.length(reason) using errcode = 'JD004';
  end if;
  -- Lock order: the organisation and the limits first (release_held below), then the row.
  perform jobdeck_private.lock_orgs(jobdeck_private.capped_orgs(array[job_id]));
  v_keys := jobdeck_private.limit_keys(array[job_id]);
  perform jobdeck_private.lock_limits(v_keys);
  select * into v_job from jobdeck.jobs j where j.id = cancel_job.job_id for update;
  if not found then
    raise exception 'job % not found', job_id using errcode = 'JD010';
  end if;
  if v_job.status = 'cancelled' then
    return v_job;
  elsif v_job.status in ('succeeded', 'failed') then
    raise exception 'job % is % and cannot be cancelled: only queued, retrying or running jobs can', job_id, v_job.status
      using errcode = 'JD011', detail = pg_catalog.json_build_object('status', v_job.status)::pg_catalog.text;
  elsif v_job.status = 'running' then
    if v_job.cancel_requested_at is null then
      update jobdeck.jobs j set cancel_requested_at = pg_catalog.now(), cancel_reason = reason, updated_at = pg_catalog.now()
       where j.id = v_job.id returning j.* into v_job;
      insert into jobdeck.job_events (job_id, kind, level, message, attempt)
      values (v_job.id, 'control', 'info', 'cancel requested' || coalesce(': ' || reason, ''), v_job.attempts);
    end if;
    -- Sent again on a repeated cancel, in case the first was missed (workers also poll).
    perform jobdeck_private.notify_jobs('cancel', array[v_job.id]);
    return v_job;
  end if;
  -- queued or retrying: out of Graphile Worker's queue now. A Graphile job already fetched by a
  -- worker stays (complete_jobs leaves locked jobs): that worker is hinted on the cancel channel,
  -- reads the row instead of starting from the job's start data (start/graphile_payload.sql), and
  -- skips it; one that started it meanwhile aborts it, as its running mark or its finish would.
  if v_job.gw_job_id is not null
     and not exists (select 1 from graphile_worker.complete_jobs(array[v_job.gw_job_id])) then
    -- and should the worker give it back unstarted (a shutdown returns its local queue), the
    -- next fetch finds no start data and reads the row
    perform jobdeck_private.forget_start_data(array[v_job.gw_job_id]);
    perform jobdeck_private.notify_jobs('cancel', array[v_job.id]);
  end if;
  update jobdeck.jobs j
     set status = 'cancelled', finished_at = pg_catalog.now(), cancel_requested_at = pg_catalog.now(), cancel_reason = reason,
         held_at = null, held_reason = null, eta_at = null, updated_at = pg_catalog.now()
   where j.id = v_job.id returning j.* into v_job;
  if v_job.org_id is not null or v_keys is not null then
    perform jobdeck_private.release_held(array[v_job.org_id], v_keys);
  end if;
  return v_job;
end;
$function$;
comment on function jobdeck_private.cancel_job(job_id uuid, reason text) is 'Cancel a job: queued/retrying at once, running through its worker (ctx.signal aborts). Errors: JD010 not found, JD011 already finished.';
-- privileges on function jobdeck_private.cancel_job(job_id uuid, reason text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.cancel_requests(ids uuid[])
 RETURNS TABLE(id uuid, cancel_reason text)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
  select j.id, j.cancel_reason
    from jobdeck.jobs j
   where j.id = any(ids)
     and (j.status = 'cancelled' or (j.status = 'running' and j.cancel_requested_at is not null))
$function$;
comment on function jobdeck_private.cancel_requests(ids uuid[]) is 'The jobs among ids that must stop for a cancel (cancelled, or running with a cancel request), with the reason.';
-- privileges on function jobdeck_private.cancel_requests(ids uuid[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.capped_orgs(job_ids uuid[])
 RETURNS text[]
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_cap integer := jobdeck_private.org_cap();
begin
  if v_cap is null and not exists (select 1 from jobdeck_private.task_types t where t.org_concurrency is not null) then
    return null;
  end if;
  return (select array_agg(distinct j.org_id order by j.org_id)
            from jobdeck.jobs j left join jobdeck_private.task_types t on t.type = j.type
           where j.id = any(job_ids) and j.org_id is not null
             and (v_cap is not null or t.org_concurrency is not null));
end;
$function$;
-- privileges on function jobdeck_private.capped_orgs(job_ids uuid[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.check_dependencies(depends_on uuid[], on_dependency_failure text)
 RETURNS uuid[]
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_scope text := jobdeck_private.caller_scope();
  v_org   text := jobdeck.current_org_id();
  v_user  text := jobdeck.current_user_id();
  v_deps  uuid[];
  v_stripped integer;
  v_found uuid[];
  v_miss  uuid;
begin
  if on_dependency_failure is not null and on_dependency_failure not in ('cancel', 'run') then
    raise exception 'on_dependency_failure must be cancel or run, got %', on_dependency_failure using errcode = 'JD004';
  end if;
  if pg_catalog.array_position(depends_on, null) is not null then
    raise exception 'depends_on must not contain null' using errcode = 'JD004';
  end if;
  v_deps := array(select distinct d from pg_catalog.unnest(depends_on) d order by d);
  if pg_catalog.cardinality(v_deps) > 1000 then
    raise exception 'depends_on may list at most 1000 jobs, got %', pg_catalog.cardinality(v_deps) using errcode = 'JD004';
  end if;
  select array_agg(l.id) into v_found
    from (select j.id from jobdeck.jobs j
           where j.id = any(v_deps)
             and (v_scope = 'all'
                  or (v_scope in ('own', 'org') and j.org_id = v_org and (v_scope = 'org' or j.owner_id = v_user)))
           order by j.id
             for no key update) l;
  select d into v_miss from pg_catalog.unnest(v_deps) d where d <> all(coalesce(v_found, '{}')) order by d limit 1;
  if v_miss is not null then
    raise exception 'depends_on: job % not found', v_miss using errcode = 'JD004';
  end if;
  with d as (
    update jobdeck.jobs j set has_dependants = true where j.id = any(v_deps) and not j.has_dependants
    returning j.gw_job_id
  )
  -- a waiting dependency's start data says has_dependants false (start/forget_start_data.sql)
  select jobdeck_private.forget_start_data(array(select d.gw_job_id from d where d.gw_job_id is not null))
    into v_stripped;
  return v_deps;
end;
$function$;
comment on function jobdeck_private.check_dependencies(depends_on uuid[], on_dependency_failure text) is 'Check the jobs a new job depends on (they exist, the caller may see them), lock them and mark them as having dependants. Errors: JD004.';
-- privileges on function jobdeck_private.check_dependencies(depends_on uuid[], on_dependency_failure text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.check_job_spec(label text, type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, metadata jsonb)
 RETURNS integer
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_type   jobdeck_private.task_types;
  v_errors text[];
  v_size   integer;
  v_prefix text := coalesce(label || ': ', '');
begin
  if type is null or type = '' then
    raise exception '%job type is required', v_prefix using errcode = 'JD001';
  end if;
  select * into v_type from jobdeck_private.task_types t where t.type = check_job_spec.type;
  if not found then
    raise exception '%unknown job type "%"', v_prefix, left(type, 200) using errcode = 'JD001',
      hint = coalesce('known types: ' || (select string_agg(t.type, ', ' order by t.type) from jobdeck_private.task_types t),
                      'no task types are registered yet: run `jobdeck migrate` or start a worker');
  end if;
  if payload is null then
    raise exception '%payload must be JSON, not null', v_prefix using errcode = 'JD002';
  end if;
  v_size := octet_length(payload::text);
  if v_size > v_type.max_payload_bytes then
    raise exception '%payload of % bytes is over the % byte limit for job type "%"',
      v_prefix, v_size, v_type.max_payload_bytes, type using errcode = 'JD003';
  end if;
  v_errors := jobdeck_private.json_schema_errors(v_type.payload_schema, payload, 'payload');
  if cardinality(v_errors) > 0 then
    raise exception '%invalid payload for job type "%": %', v_prefix, type, array_to_string(v_errors[1:10], '; ')
      using errcode = 'JD002', detail = to_jsonb(v_errors)::text;
  end if;
  if priority is null or priority not between -32768 and 32767 then
    raise exception '%priority must be a whole number from -32768 to 32767, got %', v_prefix, coalesce(priority::text, 'null')
      using errcode = 'JD004';
  end if;
  if max_attempts is not null and max_attempts not between 1 and 32767 then
    raise exception '%max_attempts must be from 1 to 32767, got %', v_prefix, max_attempts using errcode = 'JD004';
  end if;
  if run_at is not null and not isfinite(run_at) then
    raise exception '%run_at must be a finite time', v_prefix using errcode = 'JD004';
  end if;
  if key is not null and length(key) not between 1 and 512 then
    raise exception '%key must be 1 to 512 characters', v_prefix using errcode = 'JD004';
  end if;
  if queue is not null and length(queue) not between 1 and 128 then
    raise exception '%queue must be 1 to 128 characters', v_prefix using errcode = 'JD004';
  end if;
  if metadata is null or jsonb_typeof(metadata) <> 'object' then
    raise exception '%metadata must be a JSON object', v_prefix using errcode = 'JD004';
  end if;
  return coalesce(max_attempts, v_type.max_attempts);
end;
$function$;
-- privileges on function jobdeck_private.check_job_spec(label text, type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, metadata jsonb): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.count_batches(ids uuid[], succeeded integer[], failed integer[], cancelled integer[])
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_batch jobdeck.batches;
  v_job   jobdeck.jobs;
begin
  for v_batch in
    update jobdeck.batches b
       set succeeded = b.succeeded + d.succeeded, failed = b.failed + d.failed,
           cancelled = b.cancelled + d.cancelled, updated_at = pg_catalog.now(),
           finished_at = case when b.succeeded + d.succeeded + b.failed + d.failed + b.cancelled + d.cancelled
                                   = b.total then coalesce(b.finished_at, pg_catalog.now()) end
      from (select l.id, l.succeeded, l.failed, l.cancelled
              from rows from (pg_catalog.unnest(ids), pg_catalog.unnest(succeeded), pg_catalog.unnest(failed),
                              pg_catalog.unnest(cancelled)) as l(id, succeeded, failed, cancelled)
              join jobdeck.batches lb on lb.id = l.id
             order by l.id
               for update of lb) as d
     where b.id = d.id
    returning b.*
  loop
    if v_batch.finished_at is not null and v_batch.on_complete_type is not null
       and v_batch.on_complete_job_id is null then
      -- A refused on-complete job (its task type removed since the batch was enqueued, its
      -- schema changed) must not fail the finish of the last job: a warning, and no job.
      begin
        v_job := jobdeck_private.enqueue(
          v_batch.on_complete_type,
          v_batch.on_complete_payload || pg_catalog.jsonb_build_object('batch', pg_catalog.jsonb_build_object(
            'id', v_batch.id, 'total', v_batch.total, 'succeeded', v_batch.succeeded,
            'failed', v_batch.failed, 'cancelled', v_batch.cancelled)),
          owner_id => v_batch.owner_id, org_id => v_batch.org_id,
          related_type => 'batch', related_id => v_batch.id::pg_catalog.text);
        update jobdeck.batches b set on_complete_job_id = v_job.id where b.id = v_batch.id;
      exception when others then
        raise warning 'batch %: its on-complete job (%) was refused: %', v_batch.id,
          v_batch.on_complete_type, sqlerrm;
      end;
    end if;
  end loop;
  perform jobdeck_private.notify_batches(ids);
end;
$function$;
comment on function jobdeck_private.count_batches(ids uuid[], succeeded integer[], failed integer[], cancelled integer[]) is 'Add finished jobs to their batches'' counters; enqueue a batch''s on-complete job when its last job finishes.';
-- privileges on function jobdeck_private.count_batches(ids uuid[], succeeded integer[], failed integer[], cancelled integer[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.deny_api_caller(what text)
 RETURNS void
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if jobdeck_private.caller_scope() <> 'all' then
    raise exception '% is not available to API callers; use jobdeck.enqueue_job()', what using errcode = '42501';
  end if;
end;
$function$;
-- privileges on function jobdeck_private.deny_api_caller(what text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.drop_history_partitions()
 RETURNS TABLE(partition text, jobs bigint)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET lock_timeout TO '2s'
AS $function$
declare
  v_part record;
  v_jobs bigint;
begin
  for v_part in
    select c.relname::text as name
      from pg_inherits i
      join pg_class c on c.oid = i.inhrelid
      join pg_namespace n on n.oid = c.relnamespace
     where i.inhparent = 'jobdeck.jobs'::regclass and n.nspname = 'jobdeck_private'
       and c.relname ~ '^jobs_p[0-9]{8}$'
       and to_date(substr(c.relname, 7), 'YYYYMMDD') + 7 <= (now() at time zone 'UTC')::date
     order by c.relname
  loop
    begin
      -- Its rows stay put (no retry moves one out) while their events go; jobs itself is locked
      -- only for the drop, not for the deletes.
      execute format('lock table jobdeck_private.%I in share mode', v_part.name);
      execute format('select count(*) from jobdeck_private.%I', v_part.name) into v_jobs;
      if v_jobs > 0 then
        execute format('delete from jobdeck.job_events e using jobdeck_private.%I p where e.job_id = p.id', v_part.name);
        execute format('delete from jobdeck.job_steps s using jobdeck_private.%I p where s.job_id = p.id', v_part.name);
        execute format('delete from jobdeck_private.job_signals g using jobdeck_private.%I p where g.job_id = p.id',
                       v_part.name);
      end if;
      lock table jobdeck.jobs in access exclusive mode;
      execute format('drop table jobdeck_private.%I', v_part.name);
    exception when lock_not_available then
      continue;
    end;
    partition := v_part.name;
    jobs := v_jobs;
    return next;
  end loop;
end;
$function$;
comment on function jobdeck_private.drop_history_partitions() is 'Drops the weekly history partitions of jobdeck.jobs whose week is past, after deleting their jobs'' events, steps and signals; returns what it dropped.';
-- privileges on function jobdeck_private.drop_history_partitions(): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.enqueue(type text, payload jsonb DEFAULT '{}'::jsonb, priority integer DEFAULT 0, run_at timestamp with time zone DEFAULT NULL::timestamp with time zone, max_attempts integer DEFAULT NULL::integer, key text DEFAULT NULL::text, queue text DEFAULT NULL::text, owner_id text DEFAULT NULL::text, org_id text DEFAULT NULL::text, related_type text DEFAULT NULL::text, related_id text DEFAULT NULL::text, metadata jsonb DEFAULT '{}'::jsonb, key_mode text DEFAULT 'keep'::text, depends_on uuid[] DEFAULT NULL::uuid[], on_dependency_failure text DEFAULT NULL::text)
 RETURNS jobdeck.jobs
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_max  integer;
  v_deps uuid[];
  v_job  jobdeck.jobs;
begin
  v_max := jobdeck_private.check_job_spec(null, type, payload, priority, run_at, max_attempts, key, queue, metadata);
  if coalesce(cardinality(depends_on), 0) > 0 then
    if key is not null then
      raise exception 'key cannot be combined with depends_on: a waiting job does not hold a key' using errcode = 'JD004';
    end if;
    v_deps := jobdeck_private.check_dependencies(depends_on, on_dependency_failure);
    v_job := jobdeck_private.insert_job(type, payload, priority, run_at, v_max, null, queue, owner_id, org_id,
                                        related_type, related_id, metadata, v_deps,
                                        coalesce(on_dependency_failure, 'cancel'));
    perform jobdeck_private.settle_waiting(array[v_job.id]);
    select * into v_job from jobdeck.jobs j where j.id = v_job.id;
    return v_job;
  elsif on_dependency_failure is not null then
    raise exception 'on_dependency_failure needs depends_on (the jobs to wait for)' using errcode = 'JD004';
  end if;
  if key is null then
    return jobdeck_private.insert_job(type, payload, priority, run_at, v_max, null, queue, owner_id, org_id,
                                      related_type, related_id, metadata);
  end if;
  if key_mode is null or key_mode not in ('keep', 'replace') then
    raise exception 'key_mode must be keep or replace, got %', coalesce(key_mode, 'null') using errcode = 'JD004';
  end if;
  return jobdeck_private.add_keyed_job(type, payload, priority, run_at, v_max, key, key_mode, queue, owner_id,
                                       org_id, related_type, related_id, metadata);
end;
$function$;
comment on function jobdeck_private.enqueue(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, key_mode text, depends_on uuid[], on_dependency_failure text) is 'Enqueue a tracked job in the current transaction. key_mode keep|replace. Errors: JD001 unknown type, JD002 invalid payload, JD003 payload too large, JD004 bad option (an unknown or invisible dependency too).';
-- privileges on function jobdeck_private.enqueue(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, key_mode text, depends_on uuid[], on_dependency_failure text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.enqueue_batch(specs jsonb, on_complete text DEFAULT NULL::text, payload jsonb DEFAULT '{}'::jsonb, owner_id text DEFAULT NULL::text, org_id text DEFAULT NULL::text)
 RETURNS jobdeck.batches
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_batch jobdeck.batches;
  v_n     integer;
  v_ids   uuid[];
  v_gw    bigint[];
  v_bad   integer;
begin
  if specs is null or pg_catalog.jsonb_typeof(specs) <> 'array' then
    raise exception 'a batch must be a JSON array of job specs' using errcode = 'JD004';
  end if;
  v_n := pg_catalog.jsonb_array_length(specs);
  if v_n = 0 then
    raise exception 'a batch needs at least one job' using errcode = 'JD004';
  elsif v_n > 10000 then
    raise exception 'a batch holds at most 10000 jobs, got %', v_n using errcode = 'JD004';
  end if;
  select e.ord - 1 into v_bad
    from pg_catalog.jsonb_array_elements(specs) with ordinality as e(spec, ord)
   where pg_catalog.jsonb_typeof(e.spec) = 'object' and e.spec ->> 'key' is not null
   limit 1;
  if v_bad is not null then
    raise exception 'jobs[%]: a job of a batch cannot have a dedupe key', v_bad using errcode = 'JD004';
  end if;
  -- enqueue_many adds no webhooks or e-mail notifications: refuse them rather than drop them
  select e.ord - 1 into v_bad
    from pg_catalog.jsonb_array_elements(specs) with ordinality as e(spec, ord)
   where pg_catalog.jsonb_typeof(e.spec) = 'object'
     and coalesce(e.spec ->> 'webhookUrl', e.spec ->> 'webhook_url', e.spec ->> 'notifyEmail',
                  e.spec ->> 'notify_email') is not null
   limit 1;
  if v_bad is not null then
    raise exception 'jobs[%]: a job of a batch cannot have webhookUrl or notifyEmail (use on_complete)', v_bad
      using errcode = 'JD004';
  end if;
  if payload is null or pg_catalog.jsonb_typeof(payload) <> 'object' then
    raise exception 'the on-complete payload must be a JSON object' using errcode = 'JD004';
  end if;
  if on_complete is not null then
    -- as the on-complete job will be checked, with an outcome of the right shape
    perform jobdeck_private.check_job_spec('onComplete: ', on_complete,
      payload || pg_catalog.jsonb_build_object('batch', pg_catalog.jsonb_build_object(
        'id', pg_catalog.gen_random_uuid(), 'total', v_n, 'succeeded', 0, 'failed', 0, 'cancelled', 0)),
      0, null, null, null, null, '{}');
  end if;

  if owner_id is not null or org_id is not null then
    specs := (select pg_catalog.jsonb_agg(
                       case when pg_catalog.jsonb_typeof(e.spec) <> 'object' then e.spec
                            else pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                                   'ownerId', enqueue_batch.owner_id, 'orgId', enqueue_batch.org_id))
                                 || (e.spec - 'owner_id' - 'org_id' - 'ownerId' - 'orgId')
                                 || pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                                   'ownerId', coalesce(e.spec -> 'ownerId', e.spec -> 'owner_id'),
                                   'orgId', coalesce(e.spec -> 'orgId', e.spec -> 'org_id'))) end
                       order by e.ord)
                from pg_catalog.jsonb_array_elements(specs) with ordinality as e(spec, ord));
  end if;
  select pg_catalog.array_agg(j.id), pg_catalog.array_agg(j.gw_job_id) into v_ids, v_gw
    from jobdeck_private.enqueue_many(specs) j;

  insert into jobdeck.batches (owner_id, org_id, total, on_complete_type, on_complete_payload)
  values (owner_id, org_id, v_n, on_complete, payload)
  returning * into v_batch;
  update jobdeck.jobs j set batch_id = v_batch.id where j.id = any(v_ids);
  -- the batch id is not in the start data the jobs were enqueued with
  perform jobdeck_private.forget_start_data(v_gw);
  perform jobdeck_private.notify_batches(array[v_batch.id]);
  return v_batch;
end;
$function$;
comment on function jobdeck_private.enqueue_batch(specs jsonb, on_complete text, payload jsonb, owner_id text, org_id text) is 'Enqueue jobs as one batch with aggregate progress and an optional on-complete job: all or none.';
-- privileges on function jobdeck_private.enqueue_batch(specs jsonb, on_complete text, payload jsonb, owner_id text, org_id text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.enqueue_delivery(type text, job_id uuid, payload jsonb)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform jobdeck_private.enqueue(
    type, payload, 0, null, null, null, null, null, null, 'job', job_id::text, '{}'::jsonb, 'keep');
exception when others then
  raise warning 'jobdeck: % for job % not enqueued: %', type, job_id, sqlerrm;
end;
$function$;
-- privileges on function jobdeck_private.enqueue_delivery(type text, job_id uuid, payload jsonb): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.enqueue_from_template(template jobdeck.job_templates, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, key_mode text, webhook_url text, notify_email text[], notify_on text[])
 RETURNS jobdeck.jobs
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_job   jobdeck.jobs;
  v_email text[] := coalesce(notify_email, template.notify_email);
  v_on    text[] := coalesce(notify_on, template.notify_on);
  v_url   text := coalesce(webhook_url, template.webhook_url);
begin
  if metadata is not null and jsonb_typeof(metadata) = 'object' then
    metadata := metadata || jsonb_build_object('template', template.name);
  end if;
  v_job := jobdeck_private.enqueue(
    template.type, jobdeck_private.merge_payload(template.payload_defaults, coalesce(payload, '{}'::jsonb)),
    coalesce(priority, template.priority, 0), run_at, coalesce(max_attempts, template.max_attempts), key,
    coalesce(queue, template.queue), owner_id, org_id, related_type, related_id, metadata, coalesce(key_mode, 'keep'));
  if v_url is not null then
    v_job := jobdeck_private.set_webhook(v_job.id, v_url);
  end if;
  if v_email is not null then
    v_job := jobdeck_private.set_email_notification(v_job.id, v_email, v_on);
  elsif notify_on is not null then
    raise exception 'notify_on needs notify_email (the addresses to notify)' using errcode = 'JD004';
  end if;
  return v_job;
end;
$function$;
-- privileges on function jobdeck_private.enqueue_from_template(template jobdeck.job_templates, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, key_mode text, webhook_url text, notify_email text[], notify_on text[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.enqueue_graph_as(jobs jsonb, as_caller boolean)
 RETURNS TABLE(ref text, id uuid)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_ids    jsonb := '{}';
  v_left   jsonb;
  v_spec   jsonb;
  v_ref    text;
  v_dep    text;
  v_deps   uuid[];
  v_job    jobdeck.jobs;
  v_moved  boolean;
  v_state  text;
  v_detail text;
  v_msg    text;
  v_field  text;
begin
  if jobs is null or pg_catalog.jsonb_typeof(jobs) <> 'array' or pg_catalog.jsonb_array_length(jobs) = 0 then
    raise exception 'jobs must be a non-empty array of job specs' using errcode = 'JD004';
  end if;
  if pg_catalog.jsonb_array_length(jobs) > 1000 then
    raise exception 'jobs may hold at most 1000 jobs, got %', pg_catalog.jsonb_array_length(jobs) using errcode = 'JD004';
  end if;
  for v_spec in select e.value from pg_catalog.jsonb_array_elements(jobs) e loop
    if pg_catalog.jsonb_typeof(v_spec) <> 'object' or pg_catalog.jsonb_typeof(v_spec -> 'ref') <> 'string'
       or pg_catalog.length(v_spec ->> 'ref') not between 1 and 200 then
      raise exception 'jobs: every job needs a ref, a name of 1 to 200 characters' using errcode = 'JD004';
    end if;
    if v_spec ? 'dependsOn' and pg_catalog.jsonb_typeof(v_spec -> 'dependsOn') not in ('array', 'null') then
      raise exception 'jobs.%: dependsOn must be an array of refs or job ids', v_spec ->> 'ref' using errcode = 'JD004';
    end if;
    select d.value into v_dep
      from pg_catalog.jsonb_array_elements_text(coalesce(nullif(v_spec -> 'dependsOn', 'null'), '[]')) d
     where not exists (select 1 from pg_catalog.jsonb_array_elements(jobs) o where o.value ->> 'ref' = d.value)
       and d.value !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
     limit 1;
    if found then
      raise exception 'jobs.%: dependsOn "%" is neither a ref of this call nor a job id', v_spec ->> 'ref', v_dep
        using errcode = 'JD004';
    end if;
  end loop;
  select e.value ->> 'ref' into v_ref from pg_catalog.jsonb_array_elements(jobs) e
   group by e.value ->> 'ref' having pg_catalog.count(*) > 1 limit 1;
  if v_ref is not null then
    raise exception 'jobs: ref "%" names two jobs', v_ref using errcode = 'JD004';
  end if;

  v_left := jobs;
  while pg_catalog.jsonb_array_length(v_left) > 0 loop
    v_moved := false;
    for v_spec in select e.value from pg_catalog.jsonb_array_elements(v_left) e loop
      v_ref := v_spec ->> 'ref';
      -- next when each dependency is enqueued already or is not a ref of this graph
      continue when exists (
        select 1 from pg_catalog.jsonb_array_elements_text(coalesce(nullif(v_spec -> 'dependsOn', 'null'), '[]')) d
         where not v_ids ? d.value
           and exists (select 1 from pg_catalog.jsonb_array_elements(jobs) o where o.value ->> 'ref' = d.value));
      begin
        v_deps := array(
          select case when v_ids ? d.value then (v_ids ->> d.value)::uuid
                      else d.value::uuid end
            from pg_catalog.jsonb_array_elements_text(coalesce(nullif(v_spec -> 'dependsOn', 'null'), '[]')) d);
        if as_caller then
          -- An API caller sets what enqueue_job takes; owner and organisation come from the token.
          select k into v_field from pg_catalog.jsonb_object_keys(v_spec) k
           where k not in ('ref', 'type', 'payload', 'priority', 'runAt', 'maxAttempts', 'key',
                           'dependsOn', 'onDependencyFailure')
           order by k limit 1;
          if v_field is not null then
            raise exception '% cannot be set through the API (it takes type, payload, priority, runAt, maxAttempts, key, dependsOn and onDependencyFailure)', v_field
              using errcode = 'JD004';
          end if;
          v_job := jobdeck.enqueue_job(
            type => v_spec ->> 'type',
            payload => coalesce(nullif(v_spec -> 'payload', 'null'), '{}'),
            priority => coalesce((v_spec ->> 'priority')::integer, 0),
            run_at => (v_spec ->> 'runAt')::timestamptz,
            max_attempts => (v_spec ->> 'maxAttempts')::integer,
            key => v_spec ->> 'key',
            depends_on => nullif(v_deps, '{}'),
            on_dependency_failure => v_spec ->> 'onDependencyFailure');
        else
          v_job := jobdeck.enqueue(
            type => v_spec ->> 'type',
            payload => coalesce(v_spec -> 'payload', '{}'),
            priority => coalesce((v_spec ->> 'priority')::integer, 0),
            run_at => (v_spec ->> 'runAt')::timestamptz,
            max_attempts => (v_spec ->> 'maxAttempts')::integer,
            key => v_spec ->> 'key',
            queue => v_spec ->> 'queue',
            owner_id => v_spec ->> 'ownerId',
            org_id => v_spec ->> 'orgId',
            related_type => v_spec ->> 'relatedType',
            related_id => v_spec ->> 'relatedId',
            metadata => coalesce(nullif(v_spec -> 'metadata', 'null'), '{}'),
            key_mode => coalesce(v_spec ->> 'keyMode', 'keep'),
            webhook_url => v_spec ->> 'webhookUrl',
            notify_email => case when pg_catalog.jsonb_typeof(v_spec -> 'notifyEmail') = 'array'
                                 then array(select pg_catalog.jsonb_array_elements_text(v_spec -> 'notifyEmail'))
                                 when pg_catalog.jsonb_typeof(v_spec -> 'notifyEmail') = 'string'
                                 then array[v_spec ->> 'notifyEmail'] end,
            notify_on => case when pg_catalog.jsonb_typeof(v_spec -> 'notifyOn') = 'array'
                              then array(select pg_catalog.jsonb_array_elements_text(v_spec -> 'notifyOn')) end,
            depends_on => nullif(v_deps, '{}'),
            on_dependency_failure => v_spec ->> 'onDependencyFailure');
        end if;
      exception when others then
        get stacked diagnostics v_state = returned_sqlstate, v_detail = pg_exception_detail, v_msg = message_text;
        raise exception using message = 'jobs.' || v_ref || ': ' || v_msg, errcode = v_state,
                              detail = coalesce(v_detail, '');
      end;
      v_ids := v_ids || pg_catalog.jsonb_build_object(v_ref, v_job.id);
      v_moved := true;
    end loop;
    v_left := coalesce((select pg_catalog.jsonb_agg(e.value) from pg_catalog.jsonb_array_elements(v_left) e
                         where not v_ids ? (e.value ->> 'ref')), '[]');
    if not v_moved then
      raise exception 'jobs: the dependencies of % form a cycle',
        (select pg_catalog.string_agg('"' || (e.value ->> 'ref') || '"', ', ' order by e.value ->> 'ref')
           from pg_catalog.jsonb_array_elements(v_left) e)
        using errcode = 'JD004';
    end if;
  end loop;
  return query select e.value ->> 'ref', (v_ids ->> (e.value ->> 'ref'))::uuid
                 from pg_catalog.jsonb_array_elements(jobs) with ordinality e order by e.ordinality;
end;
$function$;
-- privileges on function jobdeck_private.enqueue_graph_as(jobs jsonb, as_caller boolean): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.enqueue_many(specs jsonb)
 RETURNS SETOF jobdeck.jobs
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_spec  jsonb;
  v_i     integer := 0;
  v_max   integer[] := '{}';
  v_int   jsonb;
  v_keyed boolean := false;
  v_now   timestamptz := clock_timestamp();
  -- The flow rules' version, read before the statement that checks the rules: a rule that check
  -- does not see had not committed when this was read either (start/flow_rules_version.sql).
  v_rules bigint := jobdeck_private.flow_rules_version();
begin
  if specs is null or jsonb_typeof(specs) <> 'array' then
    raise exception 'jobs must be a JSON array of job specs' using errcode = 'JD004';
  end if;
  for v_spec in select jsonb_array_elements(specs) loop
    if jsonb_typeof(v_spec) <> 'object' then
      raise exception 'jobs[%]: must be an object like {"type": "...", "payload": {...}}', v_i using errcode = 'JD004';
    end if;
    foreach v_int in array array[v_spec -> 'priority', coalesce(v_spec -> 'maxAttempts', v_spec -> 'max_attempts')] loop
      if v_int is not null and v_int <> 'null'::jsonb
         and (jsonb_typeof(v_int) <> 'number' or (v_int::text)::numeric <> trunc((v_int::text)::numeric)
              or abs((v_int::text)::numeric) > 2147483647) then
        raise exception 'jobs[%]: priority and maxAttempts must be whole numbers, got %', v_i, v_int using errcode = 'JD004';
      end if;
    end loop;
    v_max := v_max || jobdeck_private.check_job_spec(
      'jobs[' || v_i || ']', v_spec ->> 'type', coalesce(v_spec -> 'payload', '{}'),
      coalesce((v_spec ->> 'priority')::integer, 0),
      (coalesce(v_spec ->> 'runAt', v_spec ->> 'run_at'))::timestamptz,
      (coalesce(v_spec ->> 'maxAttempts', v_spec ->> 'max_attempts'))::integer,
      v_spec ->> 'key', v_spec ->> 'queue', coalesce(v_spec -> 'metadata', '{}'));
    if coalesce(v_spec ->> 'keyMode', v_spec ->> 'key_mode', 'keep') not in ('keep', 'replace') then
      raise exception 'jobs[%]: keyMode must be keep or replace, got %', v_i,
        coalesce(v_spec -> 'keyMode', v_spec -> 'key_mode') using errcode = 'JD004';
    end if;
    v_keyed := v_keyed or (v_spec ->> 'key') is not null;
    v_i := v_i + 1;
  end loop;

  if v_keyed then
    -- Keyed jobs dedupe one by one (see add_keyed_job); unkeyed ones in the same list go in singly too.
    v_i := 0;
    for v_spec in select jsonb_array_elements(specs) loop
      v_i := v_i + 1;
      if (v_spec ->> 'key') is null then
        return next jobdeck_private.insert_job(
          v_spec ->> 'type', coalesce(v_spec -> 'payload', '{}'), coalesce((v_spec ->> 'priority')::integer, 0),
          (coalesce(v_spec ->> 'runAt', v_spec ->> 'run_at'))::timestamptz, v_max[v_i], null, v_spec ->> 'queue',
          coalesce(v_spec ->> 'ownerId', v_spec ->> 'owner_id'), coalesce(v_spec ->> 'orgId', v_spec ->> 'org_id'),
          coalesce(v_spec ->> 'relatedType', v_spec ->> 'related_type'),
          coalesce(v_spec ->> 'relatedId', v_spec ->> 'related_id'), coalesce(v_spec -> 'metadata', '{}'));
        continue;
      end if;
      return next jobdeck_private.add_keyed_job(
        v_spec ->> 'type', coalesce(v_spec -> 'payload', '{}'), coalesce((v_spec ->> 'priority')::integer, 0),
        (coalesce(v_spec ->> 'runAt', v_spec ->> 'run_at'))::timestamptz, v_max[v_i], v_spec ->> 'key',
        coalesce(v_spec ->> 'keyMode', v_spec ->> 'key_mode', 'keep'), v_spec ->> 'queue', coalesce(v_spec ->> 'ownerId', v_spec ->> 'owner_id'),
        coalesce(v_spec ->> 'orgId', v_spec ->> 'org_id'), coalesce(v_spec ->> 'relatedType', v_spec ->> 'related_type'),
        coalesce(v_spec ->> 'relatedId', v_spec ->> 'related_id'), coalesce(v_spec -> 'metadata', '{}'));
    end loop;
    return;
  end if;

  return query
  with s as materialized (
    select e.ord, gen_random_uuid() as id, e.spec ->> 'type' as type,
           coalesce(e.spec -> 'payload', '{}') as payload,
           coalesce((e.spec ->> 'priority')::integer, 0) as priority,
           (coalesce(e.spec ->> 'runAt', e.spec ->> 'run_at'))::timestamptz as run_at,
           v_max[e.ord] as max_attempts,
           e.spec ->> 'queue' as queue,
           coalesce(e.spec ->> 'ownerId', e.spec ->> 'owner_id') as owner_id,
           coalesce(e.spec ->> 'orgId', e.spec ->> 'org_id') as org_id,
           coalesce(e.spec ->> 'relatedType', e.spec ->> 'related_type') as related_type,
           coalesce(e.spec ->> 'relatedId', e.spec ->> 'related_id') as related_id,
           coalesce(e.spec -> 'metadata', '{}') as metadata
      from jsonb_array_elements(specs) with ordinality as e(spec, ord)
  ), k as materialized (
    -- keys under per-key limits, computed (and refused) before anything is written
    select s.id, lk.concurrency_key, lk.rate_key, lk.queue_rate_key
      from s cross join lateral jobdeck_private.job_limit_keys(s.type, s.org_id, s.owner_id, s.payload,
                                                              'jobs[' || (s.ord - 1) || ']', s.queue) lk
  ), t as materialized (
    select jobdeck_private.fair_turns(array_agg(s.type order by s.ord), array_agg(s.queue order by s.ord),
                                      array_agg(s.org_id order by s.ord), array_agg(s.priority order by s.ord),
                                      array_agg(s.run_at order by s.ord)) as turns
      from s
  ), a as materialized (
    -- whether a job may carry start data, asked once per type, queue and organisation of the batch
    -- ('' stands for none: neither a queue nor an organisation can be named '')
    select d.type, d.queue_k, d.org_k,
           jobdeck_private.start_data_allowed(d.type, nullif(d.queue_k, ''), nullif(d.org_k, '')) as ok
      from (select distinct s.type, coalesce(s.queue, '') as queue_k, coalesce(s.org_id, '') as org_k from s) d
  ), gw as (
    select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
      from graphile_worker.add_jobs(array(
        -- (the CASE spares the common job without a queue the call)
        select row(s.type,
                   -- start data (start/graphile_payload.sql) for a job no flow rule covers
                   jobdeck_private.graphile_payload(s.id,
                     case when pg_column_size(s.payload) + pg_column_size(s.metadata) <= 8192 and a.ok
                          then v_rules end,
                     s.queue, s.priority, s.payload, s.max_attempts, coalesce(s.run_at, now()), s.owner_id,
                     s.org_id, s.related_type, s.related_id, s.metadata, k.concurrency_key, k.rate_key,
                     k.queue_rate_key, t.turns[s.ord]),
                   case when s.queue is not null then jobdeck_private.graphile_queue(s.queue) end,
                   coalesce(t.turns[s.ord], coalesce(s.run_at, v_now) + (s.ord - 1) * interval '1 microsecond'),
                   25, null, s.priority, null)::graphile_worker.job_spec
          from s join k on k.id = s.id
          join a on a.type = s.type and a.queue_k = coalesce(s.queue, '') and a.org_k = coalesce(s.org_id, '')
          cross join t order by s.ord)) as g
  ), ins as (
    insert into jobdeck.jobs as j (id, type, queue, priority, payload, max_attempts, run_at, owner_id, org_id,
                                   related_type, related_id, metadata, gw_job_id, concurrency_key, rate_key, queue_rate_key,
                                   fair_at)
    select s.id, s.type, s.queue, s.priority, s.payload, s.max_attempts, coalesce(s.run_at, now()), s.owner_id,
           s.org_id, s.related_type, s.related_id, s.metadata, gw.gw_job_id, k.concurrency_key, k.rate_key, k.queue_rate_key,
           t.turns[s.ord]
      from s join gw on gw.id = s.id join k on k.id = s.id cross join t
    returning j.*
  )
  select ins.* from ins join s on s.id = ins.id order by s.ord;
end;
$function$;
-- privileges on function jobdeck_private.enqueue_many(specs jsonb): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.ensure_history_partitions(from_day date, through_day date)
 RETURNS SETOF text
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET lock_timeout TO '2s'
AS $function$
declare
  v_week date := date_trunc('week', from_day::timestamp)::date;
  v_name text;
  v_stray boolean;
begin
  if from_day is null or through_day is null or from_day = 'infinity' or through_day = 'infinity' then
    return;
  end if;
  perform pg_advisory_xact_lock(hashtext('jobdeck_private.ensure_history_partitions'));
  while v_week <= through_day loop
    v_name := jobdeck_private.history_partition(v_week);
    if to_regclass(format('jobdeck_private.%I', v_name)) is null then
      v_stray := exists (select 1 from jobdeck_private.jobs_default d
                          where d.purge_on >= v_week and d.purge_on < v_week + 7);
      if v_stray then
        create temporary table if not exists pg_temp.jobdeck_default_rows (like jobdeck.jobs) on commit drop;
        with moved as (
          delete from jobdeck_private.jobs_default d
           where d.purge_on >= v_week and d.purge_on < v_week + 7
          returning d.*
        )
        insert into pg_temp.jobdeck_default_rows select * from moved;
      end if;
      -- Created, then attached: `create table … partition of` would lock jobdeck.jobs against every
      -- read and write (ACCESS EXCLUSIVE); attaching takes SHARE UPDATE EXCLUSIVE, which neither
      -- blocks nor waits for them (the empty default partition is locked and checked instead).
      execute format('create table jobdeck_private.%I (like jobdeck.jobs including defaults including constraints)',
                     v_name);
      execute format('alter table jobdeck.jobs attach partition jobdeck_private.%I for values from (%L) to (%L)',
                     v_name, v_week, v_week + 7);
      execute format('comment on table jobdeck_private.%I is %L', v_name,
                     'History of jobdeck.jobs: finished jobs with purge_on in the week from ' || v_week
                     || '; dropped whole once that week is past (migration 000024).');
      if v_stray then
        execute format('insert into jobdeck_private.%I select * from pg_temp.jobdeck_default_rows', v_name);
        truncate pg_temp.jobdeck_default_rows;
      end if;
      return next v_name;
    end if;
    v_week := v_week + 7;
  end loop;
end;
$function$;
comment on function jobdeck_private.ensure_history_partitions(from_day date, through_day date) is 'Creates the missing weekly history partitions of jobdeck.jobs from the week of from_day through through_day; returns their names.';
-- privileges on function jobdeck_private.ensure_history_partitions(from_day date, through_day date): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.estimate_eta(started_at timestamp with time zone, progress integer, median_ms bigint)
 RETURNS timestamp with time zone
 LANGUAGE sql
 STABLE
AS $function$
  select case
    when progress between 1 and 99
      then pg_catalog.now() + (pg_catalog.now() - started_at) * ((100 - progress)::float8 / progress::float8)
    else started_at + median_ms::float8 * interval '1 millisecond'
  end
$function$;
-- privileges on function jobdeck_private.estimate_eta(started_at timestamp with time zone, progress integer, median_ms bigint): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.fair_turns(types text[], queues text[], org_ids text[], priorities integer[], run_ats timestamp with time zone[])
 RETURNS timestamp with time zone[]
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
begin
  if cardinality(types) = 1 then
    -- one job (every single enqueue): one statement; the turn's two reads run only for a job that
    -- takes turns (scalar sub-selects in a CASE are evaluated when reached)
    return array[(
      select case when c.fair then
               greatest((select max(j.fair_at) from jobdeck.jobs j
                          where coalesce(j.org_id, '') = coalesce(org_ids[1], '') and j.priority = priorities[1]
                            and j.fair_at is not null and j.status in ('queued', 'retrying')
                            and j.purge_on = 'infinity')  -- a literal: planned against jobs_live only
                          + interval '1 microsecond'
                            * (20.0 / coalesce((select w.weight from jobdeck_private.org_weights w
                                                 where w.org_id = org_ids[1]), 1)),
                        least(coalesce((select gj.run_at from graphile_worker._private_jobs gj
                                         where gj.is_available and gj.priority = priorities[1]
                                         order by gj.run_at limit 1), now()), now()),
                        now() - interval '1 hour')
             end
        from (select (run_ats[1] is null or run_ats[1] <= now())
                     and coalesce((select f.fairness from jobdeck_private.queue_fairness f where f.queue = queues[1]),
                                  (select tt.fairness from jobdeck_private.task_types tt where tt.type = types[1]),
                                  'org') = 'org' as fair) c
    )];
  end if;
  return (
  with s as materialized (
    select t.ord, t.org_id, t.priority,
           coalesce((select f.fairness from jobdeck_private.queue_fairness f where f.queue = t.queue),
                    (select tt.fairness from jobdeck_private.task_types tt where tt.type = t.type),
                    'org') = 'org'
             and (t.run_at is null or t.run_at <= now()) as fair
      from unnest(types, queues, org_ids, priorities, run_ats)
           with ordinality as t(type, queue, org_id, priority, run_at, ord)
  ), f as (
    select s.ord, s.org_id, s.priority,
           row_number() over (partition by s.org_id, s.priority order by s.ord) - 1 as k
      from s
     where s.fair
  ), g as (
    select d.org_id, d.priority,
           20.0 / coalesce((select w.weight from jobdeck_private.org_weights w where w.org_id = d.org_id), 1) as q,
           (select max(j.fair_at) from jobdeck.jobs j
             where coalesce(j.org_id, '') = coalesce(d.org_id, '') and j.priority = d.priority
               and j.fair_at is not null and j.status in ('queued', 'retrying')
               and j.purge_on = 'infinity') as last_at,  -- a literal: planned against jobs_live only
           (select gj.run_at from graphile_worker._private_jobs gj
             where gj.is_available and gj.priority = d.priority
             order by gj.run_at limit 1) as head_at
      from (select distinct f.org_id, f.priority from f) d
  )
  select array_agg(
           greatest(g.last_at + interval '1 microsecond' * g.q, least(coalesce(g.head_at, now()), now()),
                    now() - interval '1 hour')
             + interval '1 microsecond' * (g.q * f.k)
           order by s.ord)
    from s
    left join f on f.ord = s.ord
    left join g on g.org_id is not distinct from f.org_id and g.priority = f.priority
  );
end;
$function$;
comment on function jobdeck_private.fair_turns(types text[], queues text[], org_ids text[], priorities integer[], run_ats timestamp with time zone[]) is 'The Graphile run_at (turn) of each new job that takes turns between tenants, null for the others.';
-- privileges on function jobdeck_private.fair_turns(types text[], queues text[], org_ids text[], priorities integer[], run_ats timestamp with time zone[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.finish_jobs(items jsonb, worker_id text)
 RETURNS TABLE(id uuid, status text)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_ids     uuid[];
  v_orgs    text[];
  v_keys    text[];
  v_done    jsonb;
begin
  select array_agg(v.id) into v_ids from jsonb_to_recordset(items) as v(id uuid);
  v_orgs := jobdeck_private.capped_orgs(v_ids);
  v_keys := jobdeck_private.limit_keys(v_ids);
  perform jobdeck_private.lock_orgs(v_orgs);
  perform jobdeck_private.lock_limits(v_keys);

  with v as (
    select * from jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint, started_at timestamptz, attempt integer,
                                                 outcome text, retryable boolean, result jsonb, error jsonb,
                                                 peak_rss_bytes bigint, cpu_ms bigint, progress integer, step text,
                                                 completed integer, total integer, delay_ms bigint,
                                                 wake_at timestamptz)
  ), cur as materialized (
    -- Row locks in id order (no deadlock with other batches). A row locked here is read as it is
    -- now, after any cancel that committed while we waited; the update below sees the same.
    select j.id, j.status, j.cancel_requested_at, j.max_attempts, j.attempts_before_retry
      from jobdeck.jobs j where j.id = any(v_ids)
       and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
     order by j.id for update
  ), d as (
    select v.*, c.status = 'running' as marked,
           case
             when v.outcome = 'succeeded' then 'succeeded'
             when v.outcome = 'cancelled' then 'cancelled'
             when c.cancel_requested_at is not null then 'cancelled'
             when v.outcome in ('interrupted', 'rate_limited', 'parked') then 'queued'
             when v.outcome = 'error' and v.retryable and v.attempt - c.attempts_before_retry < c.max_attempts then 'retrying'
             else 'failed'
           end as new_status
      from v join cur c on c.id = v.id
  ), upd as (
    update jobdeck.jobs j
       set status = d.new_status,
           result = case when d.new_status = 'succeeded' then d.result else j.result end,
           errors = case when d.error is null then j.errors else j.errors || jsonb_build_array(d.error) end,
           attempts = case when d.new_status = 'queued' then greatest(d.attempt - 1, 0) else d.attempt end,
           worker_id = finish_jobs.worker_id,
           started_at = case when d.marked then j.started_at else d.started_at end,
           finished_at = case when d.new_status in ('succeeded', 'failed', 'cancelled') then now() end,
           progress = case when d.new_status = 'succeeded' then 100
                           else coalesce(d.progress, case when d.marked then j.progress else 0 end) end,
           current_step = coalesce(d.step, case when d.marked then j.current_step end),
           total_steps = coalesce(d.total, case when d.marked then j.total_steps end),
           completed_steps = case when d.new_status = 'succeeded' and coalesce(d.total, case when d.marked then j.total_steps end) is not null
                                  then coalesce(d.total, case when d.marked then j.total_steps end)
                                  else coalesce(d.completed, case when d.marked then j.completed_steps else 0 end) end,
           run_at = case d.new_status
                      when 'retrying' then now() + jobdeck_private.retry_delay(
                        (select t.backoff from jobdeck_private.task_types t where t.type = j.type),
                        d.attempt - j.attempts_before_retry)
                      when 'queued' then case when d.outcome = 'parked' then coalesce(d.wake_at, now())
                                              else now() + coalesce(d.delay_ms, 0) * interval '1 millisecond' end
                      else j.run_at end,
           held_reason = case when d.new_status = 'queued' and d.outcome = 'rate_limited'
                              then 'rate limited by the task, retry at '
                                   || to_char((now() + coalesce(d.delay_ms, 0) * interval '1 millisecond') at time zone 'UTC',
                                              'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') end,
           rate_deferrals = j.rate_deferrals + (d.new_status = 'queued' and d.outcome = 'rate_limited')::integer,
           gw_job_id = case when d.new_status in ('retrying', 'queued') then null else j.gw_job_id end,
           cancel_requested_at = case when d.new_status = 'cancelled' then coalesce(j.cancel_requested_at, now())
                                      else j.cancel_requested_at end,
           eta_at = null, updated_at = now(), heartbeat_at = now(),
           peak_rss_bytes = greatest(d.peak_rss_bytes, case when d.marked then j.peak_rss_bytes end),
           cpu_ms = coalesce(d.cpu_ms, case when d.marked then j.cpu_ms end)
      from d
     -- Rows by primary key only: with a status test a partial index implies (`|| ''` hides it),
     -- the planner, misled by a busy table's stale statistics, walks thousands of waiting rows.
     -- (No `j.id = any(v_ids)` here: next to `j.id = d.id` it made each row's probe search the
     -- whole array.)
     where j.id = d.id
       and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
       and (((j.status || '') = 'running' and j.worker_id = finish_jobs.worker_id and j.attempts = d.attempt)
         or ((j.status || '') in ('queued', 'retrying') and j.held_at is null and j.gw_job_id = d.gw_job_id
             and j.attempts = d.attempt - 1))
    returning j.id, j.status, j.held_reason, j.attempts
  ), rate_events as (
    insert into jobdeck.job_events (job_id, kind, level, message, attempt)
    select upd.id, 'control', 'info', upd.held_reason, upd.attempts + 1
      from upd join d on d.id = upd.id
     where d.outcome = 'rate_limited' and upd.status = 'queued'
  )
  select coalesce(jsonb_agg(jsonb_build_object('id', upd.id, 'status', upd.status)), '[]') into v_done from upd;

  -- A job parked on a wait whose signal committed while it ran (jobdeck.signal found it running)
  -- runs again at once. A statement of its own: it sees signals committed while this one waited
  -- for the row locks.
  if exists (select 1 from jsonb_to_recordset(items) as v(outcome text) where v.outcome = 'parked') then
    update jobdeck.jobs j set run_at = now()
      from jsonb_to_recordset(v_done) as f(id uuid, status text)
     where f.id = j.id and f.status = 'queued' and j.run_at > now()
       and exists (select 1 from jobdeck.job_steps s
                     join jobdeck_private.job_signals g
                       on g.job_id = s.job_id and g.event = s.wait_event and g.consumed_at is null
                    where s.job_id = j.id and s.kind = 'wait' and s.completed_at is null);
  end if;

  -- The next attempt of each requeued job gets a Graphile job of its own, one notch more urgent
  -- (jobdeck_private.requeued_priority: a backlog's fair turns cannot starve it).
  if exists (select 1 from jsonb_to_recordset(v_done) as f(id uuid, status text) where f.status in ('retrying', 'queued')) then
    with gw as (
      select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
        from graphile_worker.add_jobs(array(
          select row(j.type, json_build_object('jobdeckId', j.id), jobdeck_private.graphile_queue(j.queue), j.run_at, 25, null,
                     jobdeck_private.requeued_priority(j.priority), null)::graphile_worker.job_spec
            from jobdeck.jobs j
            join jsonb_to_recordset(v_done) as f(id uuid, status text)
              on f.id = j.id and f.status in ('retrying', 'queued'))) g
    )
    update jobdeck.jobs j set gw_job_id = gw.gw_job_id from gw where j.id = gw.id;
  end if;

  if v_orgs is not null or v_keys is not null then
    perform jobdeck_private.release_held(v_orgs, v_keys);
  end if;
  return query select f.id, f.status from jsonb_to_recordset(v_done) as f(id uuid, status text);
end;
$function$;
-- privileges on function jobdeck_private.finish_jobs(items jsonb, worker_id text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.flow_rules_version()
 RETURNS bigint
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
begin
  return coalesce((select (s.value #>> '{}'::text[])::bigint from jobdeck_private.settings s
                    where s.name = 'flow_rules_version'), 0);
end;
$function$;
-- privileges on function jobdeck_private.flow_rules_version(): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.forget_start_data(gw_job_ids bigint[])
 RETURNS integer
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  with g as (
    update graphile_worker._private_jobs g
       set payload = pg_catalog.json_build_object('jobdeckId', g.payload ->> 'jobdeckId')
     where g.id = any(gw_job_ids)
       and pg_catalog.json_typeof(g.payload) = 'object' and (g.payload -> 'start') is not null
    returning 1
  )
  select pg_catalog.count(*)::integer from g
$function$;
-- privileges on function jobdeck_private.forget_start_data(gw_job_ids bigint[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.graphile_payload(id uuid, rules_version bigint, queue text, priority integer, payload jsonb, max_attempts integer, run_at timestamp with time zone, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, concurrency_key text, rate_key text, queue_rate_key text, fair_at timestamp with time zone)
 RETURNS json
 LANGUAGE sql
 STABLE
AS $function$
  select case when rules_version is not null then
           pg_catalog.json_build_object('jobdeckId', id, 'start', pg_catalog.json_build_object(
             'queue', queue, 'priority', priority, 'payload', payload, 'max_attempts', max_attempts,
             'run_at', run_at, 'created_at', pg_catalog.now(), 'owner_id', owner_id, 'org_id', org_id,
             'related_type', related_type, 'related_id', related_id, 'metadata', metadata,
             'concurrency_key', concurrency_key, 'rate_key', rate_key, 'queue_rate_key', queue_rate_key,
             'fair_at', fair_at, 'rules', rules_version))
         else pg_catalog.json_build_object('jobdeckId', id) end
$function$;
-- privileges on function jobdeck_private.graphile_payload(id uuid, rules_version bigint, queue text, priority integer, payload jsonb, max_attempts integer, run_at timestamp with time zone, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, concurrency_key text, rate_key text, queue_rate_key text, fair_at timestamp with time zone): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.graphile_queue(queue text)
 RETURNS text
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select case when queue is null
                or exists (select 1 from jobdeck_private.concurrency_limits l
                            where l.scope = 'queue' and l.key = graphile_queue.queue)
              then null else queue end
$function$;
-- privileges on function jobdeck_private.graphile_queue(queue text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.heartbeat(worker_id text, info jsonb, running uuid[], jobs jsonb)
 RETURNS TABLE(id uuid, cancel_reason text, lost boolean)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
begin
  insert into jobdeck_private.workers as w (id, pool_id, hostname, pid, concurrency, task_types, rss_bytes, running_jobs,
                                            stopping_at, reads_start_data)
  values (worker_id, info ->> 'poolId', info ->> 'hostname', (info ->> 'pid')::integer,
          (info ->> 'concurrency')::integer,
          coalesce(array(select jsonb_array_elements_text(info -> 'taskTypes')), '{}'),
          (info ->> 'rssBytes')::bigint, coalesce(cardinality(running), 0),
          case when (info ->> 'stopping')::boolean then now() end,
          coalesce((info ->> 'readsStartData')::boolean, false))
  on conflict on constraint workers_pkey do update
     set pool_id = excluded.pool_id, heartbeat_at = now(), rss_bytes = excluded.rss_bytes,
         running_jobs = excluded.running_jobs, stopping_at = coalesce(w.stopping_at, excluded.stopping_at),
         reads_start_data = excluded.reads_start_data;

  if jobs is not null then
    update jobdeck.jobs j
       set peak_rss_bytes = greatest(j.peak_rss_bytes, v.rss), cpu_ms = v.cpu_ms, heartbeat_at = now()
      from jsonb_to_recordset(jobs) as v(id uuid, rss bigint, cpu_ms bigint)
     where j.id = v.id and j.status = 'running' and j.worker_id = heartbeat.worker_id
       and j.purge_on = 'infinity';  -- a literal: planned against jobs_live only (000024)
  end if;

  return query
  select r.id, j.cancel_reason,
         (j.id is null or j.status <> 'running' or j.worker_id is distinct from heartbeat.worker_id) as lost
    from unnest(running) as r(id)
    left join jobdeck.jobs j on j.id = r.id
   where j.id is null or j.status <> 'running' or j.worker_id is distinct from heartbeat.worker_id
      or j.cancel_requested_at is not null;
end;
$function$;
-- privileges on function jobdeck_private.heartbeat(worker_id text, info jsonb, running uuid[], jobs jsonb): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.history_partition(purge_on date)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE STRICT
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select 'jobs_p' || pg_catalog.to_char(pg_catalog.date_trunc('week', purge_on::timestamp), 'YYYYMMDD')
$function$;
comment on function jobdeck_private.history_partition(purge_on date) is 'The name (in jobdeck_private) of the weekly partition of jobdeck.jobs holding this purge_on day.';
-- privileges on function jobdeck_private.history_partition(purge_on date): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.insert_job(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, depends_on uuid[] DEFAULT NULL::uuid[], on_dependency_failure text DEFAULT NULL::text)
 RETURNS jobdeck.jobs
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_id   uuid := gen_random_uuid();
  v_gw   bigint;
  v_job  jobdeck.jobs;
  v_keys record;
  v_turn timestamptz;
  v_rules bigint;
begin
  v_keys := jobdeck_private.job_limit_keys(insert_job.type, insert_job.org_id, insert_job.owner_id,
                                           insert_job.payload, null, insert_job.queue);
  if insert_job.depends_on is not null then
    insert into jobdeck.jobs as j (id, type, queue, priority, payload, max_attempts, run_at, owner_id, org_id,
                                   related_type, related_id, key, metadata, concurrency_key, rate_key, queue_rate_key, status,
                                   depends_on, on_dependency_failure)
    values (v_id, insert_job.type, insert_job.queue, insert_job.priority, insert_job.payload, insert_job.max_attempts,
            coalesce(insert_job.run_at, now()), insert_job.owner_id, insert_job.org_id, insert_job.related_type,
            insert_job.related_id, insert_job.key, insert_job.metadata, v_keys.concurrency_key, v_keys.rate_key,
            v_keys.queue_rate_key, 'waiting', insert_job.depends_on, insert_job.on_dependency_failure)
    returning j.* into v_job;
    return v_job;
  end if;
  v_turn := (jobdeck_private.fair_turns(array[insert_job.type], array[insert_job.queue],
               array[insert_job.org_id], array[insert_job.priority], array[insert_job.run_at]))[1];
  -- the rules and their version in one statement, one snapshot (start/flow_rules_version.sql)
  select jobdeck_private.flow_rules_version() into v_rules
   where insert_job.key is null
     and pg_column_size(insert_job.payload) + pg_column_size(insert_job.metadata) <= 8192
     and jobdeck_private.start_data_allowed(insert_job.type, insert_job.queue, insert_job.org_id);
  v_gw := (graphile_worker.add_job(
    identifier => insert_job.type,
    payload => jobdeck_private.graphile_payload(v_id, v_rules, insert_job.queue, insert_job.priority,
                 insert_job.payload, insert_job.max_attempts, coalesce(insert_job.run_at, now()), insert_job.owner_id,
                 insert_job.org_id, insert_job.related_type, insert_job.related_id, insert_job.metadata,
                 v_keys.concurrency_key, v_keys.rate_key, v_keys.queue_rate_key, v_turn),
    queue_name => case when insert_job.queue is not null then jobdeck_private.graphile_queue(insert_job.queue) end,
    run_at => coalesce(v_turn, insert_job.run_at, clock_timestamp()),
    max_attempts => 25,
    priority => insert_job.priority
  )).id;
  insert into jobdeck.jobs as j (id, type, queue, priority, payload, max_attempts, run_at, owner_id, org_id,
                                 related_type, related_id, key, metadata, gw_job_id,
                                 concurrency_key, rate_key, queue_rate_key, fair_at)
  values (v_id, insert_job.type, insert_job.queue, insert_job.priority, insert_job.payload, insert_job.max_attempts,
          coalesce(insert_job.run_at, now()), insert_job.owner_id, insert_job.org_id, insert_job.related_type,
          insert_job.related_id, insert_job.key, insert_job.metadata, v_gw, v_keys.concurrency_key, v_keys.rate_key,
          v_keys.queue_rate_key,
          v_turn)
  returning j.* into v_job;
  return v_job;
end;
$function$;
-- privileges on function jobdeck_private.insert_job(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, depends_on uuid[], on_dependency_failure text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.job_limit_keys(type text, org_id text, owner_id text, payload jsonb, label text, queue text, OUT concurrency_key text, OUT rate_key text, OUT queue_rate_key text)
 RETURNS record
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_cspec text;
  v_rspec text;
  v_qspec text;
  v_type  text := format('task type "%s"', type);
begin
  select t.concurrency_key_spec into v_cspec from jobdeck_private.task_types t where t.type = job_limit_keys.type;
  select r.key_spec into v_rspec from jobdeck_private.rate_limits r
   where r.scope = 'type' and r.name = job_limit_keys.type;
  concurrency_key := jobdeck_private.limit_key(v_cspec, v_type, org_id, owner_id, payload, 'concurrency limit', label);
  rate_key := jobdeck_private.limit_key(v_rspec, v_type, org_id, owner_id, payload, 'rate limit', label);
  if queue is not null then
    select r.key_spec into v_qspec from jobdeck_private.rate_limits r
     where r.scope = 'queue' and r.name = job_limit_keys.queue;
    queue_rate_key := jobdeck_private.limit_key(v_qspec, format('queue "%s"', queue), org_id, owner_id, payload,
                                                'rate limit', label);
  end if;
end;
$function$;
-- privileges on function jobdeck_private.job_limit_keys(type text, org_id text, owner_id text, payload jsonb, label text, queue text, OUT concurrency_key text, OUT rate_key text, OUT queue_rate_key text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.json_path(parent text, key text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
  select case when key ~ '^[A-Za-z_][A-Za-z0-9_]*$' then parent || '.' || key
              else parent || '[' || pg_catalog.to_json(key)::text || ']' end
$function$;
-- privileges on function jobdeck_private.json_path(parent text, key text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.json_schema_errors(schema jsonb, doc jsonb, path text DEFAULT 'payload'::text)
 RETURNS text[]
 LANGUAGE plpgsql
 IMMUTABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  errs   text[] := '{}';
  t      text := jsonb_typeof(doc);
  types  text[];
  k      text;
  sub    jsonb;
  i      integer;
  n      integer;
  matched integer;
  branch_errs text[];
  first_branch_errs text[];
  child_path text;
begin
  if schema is null or schema = 'true'::jsonb or schema = '{}'::jsonb then
    return errs;
  end if;
  if schema = 'false'::jsonb then
    return array[path || ': is not allowed'];
  end if;

  if schema ? 'type' then
    types := case jsonb_typeof(schema -> 'type')
      when 'array' then array(select jsonb_array_elements_text(schema -> 'type'))
      else array[schema ->> 'type'] end;
    if not (t = any (types)
            or (t = 'number' and 'integer' = any (types) and (doc::text)::numeric = trunc((doc::text)::numeric))) then
      return array[format('%s: expected %s, got %s', path, array_to_string(types, ' or '),
        case when t = 'number' and 'integer' = any (types) then 'a fraction' else t end)];
    end if;
  end if;

  if schema ? 'const' and doc is distinct from schema -> 'const' then
    errs := errs || format('%s: must be %s', path, schema -> 'const');
  end if;
  if schema ? 'enum' and not exists (select 1 from jsonb_array_elements(schema -> 'enum') e where e = doc) then
    errs := errs || format('%s: must be one of %s', path,
      (select string_agg(e::text, ', ') from jsonb_array_elements(schema -> 'enum') e));
  end if;

  if t = 'string' then
    n := char_length(doc #>> '{}');
    if schema ? 'minLength' and n < (schema ->> 'minLength')::int then
      errs := errs || format('%s: must be at least %s characters', path, schema ->> 'minLength');
    end if;
    if schema ? 'maxLength' and n > (schema ->> 'maxLength')::int then
      errs := errs || format('%s: must be at most %s characters', path, schema ->> 'maxLength');
    end if;
    if schema ? 'pattern' and not ((doc #>> '{}') ~ (schema ->> 'pattern')) then
      errs := errs || format('%s: must match %s', path, schema ->> 'pattern');
    end if;
  elsif t = 'number' then
    if schema ? 'minimum' and (doc::text)::numeric < (schema ->> 'minimum')::numeric then
      errs := errs || format('%s: must be >= %s', path, schema ->> 'minimum');
    end if;
    if schema ? 'maximum' and (doc::text)::numeric > (schema ->> 'maximum')::numeric then
      errs := errs || format('%s: must be <= %s', path, schema ->> 'maximum');
    end if;
    if jsonb_typeof(schema -> 'exclusiveMinimum') = 'number'
       and (doc::text)::numeric <= (schema ->> 'exclusiveMinimum')::numeric then
      errs := errs || format('%s: must be > %s', path, schema ->> 'exclusiveMinimum');
    end if;
    if jsonb_typeof(schema -> 'exclusiveMaximum') = 'number'
       and (doc::text)::numeric >= (schema ->> 'exclusiveMaximum')::numeric then
      errs := errs || format('%s: must be < %s', path, schema ->> 'exclusiveMaximum');
    end if;
    if schema ? 'multipleOf' and mod((doc::text)::numeric, (schema ->> 'multipleOf')::numeric) <> 0 then
      errs := errs || format('%s: must be a multiple of %s', path, schema ->> 'multipleOf');
    end if;
  elsif t = 'object' then
    if jsonb_typeof(schema -> 'required') = 'array' then
      for k in select jsonb_array_elements_text(schema -> 'required') loop
        if not doc ? k then
          errs := errs || format('%s: is required', jobdeck_private.json_path(path, k));
        end if;
      end loop;
    end if;
    for k, sub in select * from jsonb_each(doc) loop
      child_path := jobdeck_private.json_path(path, k);
      if jsonb_typeof(schema -> 'properties') = 'object' and schema -> 'properties' ? k then
        errs := errs || jobdeck_private.json_schema_errors(schema -> 'properties' -> k, sub, child_path);
      elsif schema ? 'additionalProperties' then
        if schema -> 'additionalProperties' = 'false'::jsonb then
          errs := errs || format('%s: is not an allowed field', child_path);
        else
          errs := errs || jobdeck_private.json_schema_errors(schema -> 'additionalProperties', sub, child_path);
        end if;
      end if;
    end loop;
    n := (select count(*) from jsonb_object_keys(doc));
    if schema ? 'minProperties' and n < (schema ->> 'minProperties')::int then
      errs := errs || format('%s: must have at least %s fields', path, schema ->> 'minProperties');
    end if;
    if schema ? 'maxProperties' and n > (schema ->> 'maxProperties')::int then
      errs := errs || format('%s: must have at most %s fields', path, schema ->> 'maxProperties');
    end if;
  elsif t = 'array' then
    n := jsonb_array_length(doc);
    if schema ? 'minItems' and n < (schema ->> 'minItems')::int then
      errs := errs || format('%s: must have at least %s items', path, schema ->> 'minItems');
    end if;
    if schema ? 'maxItems' and n > (schema ->> 'maxItems')::int then
      errs := errs || format('%s: must have at most %s items', path, schema ->> 'maxItems');
    end if;
    for i in 0 .. n - 1 loop
      if jsonb_typeof(schema -> 'prefixItems') = 'array' and i < jsonb_array_length(schema -> 'prefixItems') then
        errs := errs || jobdeck_private.json_schema_errors(schema -> 'prefixItems' -> i, doc -> i, path || '[' || i || ']');
      elsif jsonb_typeof(schema -> 'items') = 'object' or jsonb_typeof(schema -> 'items') = 'boolean' then
        errs := errs || jobdeck_private.json_schema_errors(schema -> 'items', doc -> i, path || '[' || i || ']');
      end if;
      exit when cardinality(errs) >= 20;
    end loop;
  end if;

  if jsonb_typeof(schema -> 'allOf') = 'array' then
    for sub in select jsonb_array_elements(schema -> 'allOf') loop
      errs := errs || jobdeck_private.json_schema_errors(sub, doc, path);
    end loop;
  end if;
  if jsonb_typeof(schema -> 'anyOf') = 'array' or jsonb_typeof(schema -> 'oneOf') = 'array' then
    matched := 0;
    first_branch_errs := null;
    for sub in select jsonb_array_elements(coalesce(schema -> 'anyOf', schema -> 'oneOf')) loop
      branch_errs := jobdeck_private.json_schema_errors(sub, doc, path);
      if cardinality(branch_errs) = 0 then
        matched := matched + 1;
      elsif first_branch_errs is null then
        first_branch_errs := branch_errs;
      end if;
    end loop;
    if matched = 0 then
      errs := errs || format('%s: does not match any allowed form (%s)', path,
        array_to_string(first_branch_errs, '; '));
    elsif schema ? 'oneOf' and matched > 1 then
      errs := errs || format('%s: matches more than one allowed form', path);
    end if;
  end if;
  return errs;
end;
$function$;
-- privileges on function jobdeck_private.json_schema_errors(schema jsonb, doc jsonb, path text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.limit_key(spec text, subject text, org_id text, owner_id text, payload jsonb, what text, label text)
 RETURNS text
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_at    text := coalesce(label || ': ', '');
  v_field text;
  v_value jsonb;
  v_key   text;
begin
  if spec is null then
    return null;
  end if;
  if spec = 'org' then
    if org_id is null then
      raise exception '% has a % per organisation: the job needs an orgId', v_at || subject, what
        using errcode = 'JD004';
    end if;
    v_key := org_id;
  elsif spec = 'owner' then
    if owner_id is null then
      raise exception '% has a % per owner: the job needs an ownerId', v_at || subject, what
        using errcode = 'JD004';
    end if;
    v_key := owner_id;
  else
    v_field := substr(spec, length('payload:') + 1);
    v_value := payload #> string_to_array(v_field, '.');
    if v_value is null or jsonb_typeof(v_value) not in ('string', 'number') then
      raise exception '% has a % per payload field "%": the payload has %', v_at || subject, what, v_field,
        case when v_value is null then 'no such field'
             when jsonb_typeof(v_value) in ('object', 'array') then 'an ' || jsonb_typeof(v_value) || ' there'
             else 'a ' || jsonb_typeof(v_value) || ' there' end
             || ' (a string or number is needed)'
        using errcode = 'JD002',
              detail = jsonb_build_array(v_field || ': must be a string or number (the ' || what || '''s key)')::text;
    end if;
    v_key := v_value #>> '{}';
  end if;
  if length(v_key) > 200 then
    raise exception '%: the key of its % is longer than 200 characters', v_at || subject, what
      using errcode = 'JD004';
  end if;
  return v_key;
end;
$function$;
-- privileges on function jobdeck_private.limit_key(spec text, subject text, org_id text, owner_id text, payload jsonb, what text, label text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.limit_keys(job_ids uuid[])
 RETURNS text[]
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if not exists (select 1 from jobdeck_private.concurrency_limits)
     and not exists (select 1 from jobdeck_private.task_types t where t.key_concurrency is not null) then
    return null;
  end if;
  return (select array_agg(distinct k.k order by k.k)
            from (select l.scope || ':' || l.key as k
                    from jobdeck.jobs j
                    join jobdeck_private.concurrency_limits l
                      on (l.scope = 'type' and l.key = j.type) or (l.scope = 'queue' and l.key = j.queue)
                   where j.id = any(job_ids)
                  union all
                  select 'key:' || j.type || ':' || coalesce(j.concurrency_key, '')
                    from jobdeck.jobs j
                    join jobdeck_private.task_types t on t.type = j.type and t.key_concurrency is not null
                   where j.id = any(job_ids)) k);
end;
$function$;
-- privileges on function jobdeck_private.limit_keys(job_ids uuid[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.lock_limits(keys text[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_key text;
begin
  for v_key in select distinct k from unnest(keys) k where k is not null order by 1 loop
    perform pg_advisory_xact_lock(hashtextextended('jobdeck.limit:' || v_key, 0));
  end loop;
end;
$function$;
-- privileges on function jobdeck_private.lock_limits(keys text[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.lock_orgs(org_ids text[])
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select jobdeck_private.lock_limits(array(select 'org:' || o from unnest(org_ids) o where o is not null));
$function$;
-- privileges on function jobdeck_private.lock_orgs(org_ids text[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.mark_running(items jsonb, worker_id text)
 RETURNS TABLE(id uuid, marked boolean, status text)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_marked uuid[];
  v_ids    uuid[] := array(select (e ->> 'id')::uuid from jsonb_array_elements(items) e);
begin
  with v as (
    select * from jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint, attempt integer, started_at timestamptz,
                                                 progress integer, step text, completed integer, total integer)
  ), upd as (
    update jobdeck.jobs j
       set status = 'running', attempts = v.attempt, worker_id = mark_running.worker_id, started_at = v.started_at,
           heartbeat_at = now(), updated_at = now(), progress = coalesce(v.progress, 0), current_step = v.step,
           completed_steps = coalesce(v.completed, 0), total_steps = v.total,
           peak_rss_bytes = null, cpu_ms = null,
           eta_at = jobdeck_private.estimate_eta(v.started_at, coalesce(v.progress, 0),
             (select t.median_ms from jobdeck_private.task_types t where t.type = j.type))
      from v
     where j.id = any(v_ids) and j.id = v.id  -- by primary key only, see finish_jobs
       and (j.status || '') in ('queued', 'retrying') and j.held_at is null
       and j.gw_job_id + 0 = v.gw_job_id and j.attempts = v.attempt - 1
       and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
    returning j.id
  )
  select array_agg(upd.id) into v_marked from upd;

  return query
  select v.id, coalesce(v.id = any(v_marked), false), j.status
    from jsonb_to_recordset(items) as v(id uuid)
    left join jobdeck.jobs j on j.id = v.id;
end;
$function$;
-- privileges on function jobdeck_private.mark_running(items jsonb, worker_id text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.merge_payload(defaults jsonb, payload jsonb)
 RETURNS jsonb
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_result jsonb := defaults;
  v_key    text;
  v_value  jsonb;
begin
  if payload is null then
    return defaults;
  end if;
  if jsonb_typeof(payload) <> 'object' then
    if defaults = '{}'::jsonb then
      return payload;
    end if;
    raise exception 'payload must be a JSON object to merge with the template''s payload defaults, got %',
      jsonb_typeof(payload) using errcode = 'JD002';
  end if;
  for v_key, v_value in select e.key, e.value from pg_catalog.jsonb_each(payload) e loop
    if jsonb_typeof(v_value) = 'object' and jsonb_typeof(v_result -> v_key) = 'object' then
      v_result := v_result || jsonb_build_object(v_key, jobdeck_private.merge_payload(v_result -> v_key, v_value));
    else
      v_result := v_result || jsonb_build_object(v_key, v_value);
    end if;
  end loop;
  return v_result;
end;
$function$;
-- privileges on function jobdeck_private.merge_payload(defaults jsonb, payload jsonb): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.move_to_history(settled interval, succeeded_days integer, failed_days integer, batch_size integer)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_ids   uuid[];
  v_purge date[];
  v_first date;
  v_last  date;
  v_moved integer;
begin
  with due as (
    select j.id, p.purge_on
      from jobdeck_private.jobs_live j
      cross join lateral (
        select ((j.finished_at at time zone 'UTC')
                 + make_interval(days => case when j.status = 'succeeded' then succeeded_days else failed_days end)
               )::date + 1 as purge_on
      ) p
     where j.status in ('succeeded', 'failed', 'cancelled')
       and j.finished_at < now() - settled
       and p.purge_on > (now() at time zone 'UTC')::date
     order by j.finished_at
     limit batch_size
       for update of j skip locked
  )
  select array_agg(d.id), array_agg(d.purge_on), min(d.purge_on), max(d.purge_on)
    into v_ids, v_purge, v_first, v_last
    from due d;
  if v_ids is null then
    return 0;
  end if;
  perform jobdeck_private.ensure_history_partitions(v_first, v_last);
  update jobdeck.jobs j
     set purge_on = m.purge_on
    from unnest(v_ids, v_purge) as m(id, purge_on)
   where j.id = m.id and j.purge_on = 'infinity'
     and j.status in ('succeeded', 'failed', 'cancelled');
  get diagnostics v_moved = row_count;
  return v_moved;
end;
$function$;
comment on function jobdeck_private.move_to_history(settled interval, succeeded_days integer, failed_days integer, batch_size integer) is 'Moves up to batch_size jobs finished more than `settled` ago from jobs_live into their weekly history partitions; returns how many moved.';
-- privileges on function jobdeck_private.move_to_history(settled interval, succeeded_days integer, failed_days integer, batch_size integer): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.notify_batches(ids uuid[])
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
begin
  perform pg_catalog.pg_notify(
            'jobdeck:batch:' ||
              pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(
                s.secret || pg_catalog.convert_to('batch:' || b.id::pg_catalog.text, 'UTF8')), 'hex'), 48),
            pg_catalog.json_build_object('id', b.id)::pg_catalog.text)
     from jobdeck_private.notify_secret s
    cross join pg_catalog.unnest(ids) as b(id);
end;
$function$;
comment on function jobdeck_private.notify_batches(ids uuid[]) is 'NOTIFY {"id"} for each batch on its secret-derived channel (kind batch).';
-- privileges on function jobdeck_private.notify_batches(ids uuid[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.notify_jobs(kind text, ids uuid[], owner_ids text[] DEFAULT NULL::text[], org_ids text[] DEFAULT NULL::text[])
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
begin
  perform pg_catalog.pg_notify(
            'jobdeck:' || c.kind || ':' ||
              pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(
                s.secret || pg_catalog.convert_to(c.kind || ':' || c.key, 'UTF8')), 'hex'), 48),
            pg_catalog.json_build_object('id', c.id)::pg_catalog.text)
     from jobdeck_private.notify_secret s
    cross join (
      select 'cancel', '', j.id
        from pg_catalog.unnest(ids) as j(id)
       where notify_jobs.kind = 'cancel'
      union all
      select v.kind, v.key, j.id
        from rows from (pg_catalog.unnest(ids), pg_catalog.unnest(owner_ids), pg_catalog.unnest(org_ids))
             as j(id, owner_id, org_id)
       cross join lateral (values
              ('job', j.id::pg_catalog.text),
              ('owner', pg_catalog.octet_length(j.org_id) || ':' || j.org_id || ':' || j.owner_id),
              ('org', j.org_id)) as v(kind, key)
       where notify_jobs.kind in ('change', 'new') and v.key is not null
         and (notify_jobs.kind = 'change' or v.kind <> 'job')
    ) as c(kind, key, id);
end;
$function$;
comment on function jobdeck_private.notify_jobs(kind text, ids uuid[], owner_ids text[], org_ids text[]) is 'NOTIFY {"id"} for each job on its secret-derived channels: kind change (job, owner, org) or cancel.';
-- privileges on function jobdeck_private.notify_jobs(kind text, ids uuid[], owner_ids text[], org_ids text[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.org_cap()
 RETURNS integer
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
begin
  return (select nullif((s.value #>> '{}'::text[])::integer, 0) from jobdeck_private.settings s
           where s.name = 'org_concurrency');
end;
$function$;
-- privileges on function jobdeck_private.org_cap(): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.orphaned_jobs(after_created timestamp with time zone DEFAULT NULL::timestamp with time zone, after_id uuid DEFAULT NULL::uuid, scan integer DEFAULT 5000)
 RETURNS TABLE(id uuid, gw_job_id bigint, next_created text, next_id uuid)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  with page as materialized (
    select j.id, j.gw_job_id, j.status, j.held_at, j.created_at
      from jobdeck.jobs j
     where j.status in ('queued', 'running', 'retrying')
       and (after_created is null
            or j.created_at < after_created or (j.created_at = after_created and j.id > after_id))
     order by j.created_at desc, j.id
     limit scan
  ), last as (
    select p.created_at, p.id from page p order by p.created_at, p.id desc limit 1
  )
  select o.id, o.gw_job_id,
         case when (select count(*) from page) = scan then (select l.created_at::text from last l) end,
         case when (select count(*) from page) = scan then (select l.id from last l) end
    from (select p.id, p.gw_job_id from page p
           where p.status in ('queued', 'retrying') and p.held_at is null
             and not exists (select 1 from graphile_worker.jobs g where g.id = p.gw_job_id)
          union all
          -- the cursor row, so the caller learns where to go on even when nothing is orphaned
          select null, null) o
$function$;
-- privileges on function jobdeck_private.orphaned_jobs(after_created timestamp with time zone, after_id uuid, scan integer): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.pause(scope text, key text, reason text, cancel_running boolean, paused_by text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_key       text := coalesce(pause.key, '');
  v_row       jobdeck_private.pauses;
  v_id        uuid;
  v_cancelled integer := 0;
  v_held      integer := 0;
  v_reason    text;
begin
  if scope is null or scope not in ('queue', 'type', 'all') then
    raise exception 'scope must be "queue", "type" or "all", got %', coalesce(quote_literal(scope), 'null')
      using errcode = 'JD004';
  end if;
  if scope = 'all' then
    v_key := '';
  elsif length(v_key) < 1 or length(v_key) > 128 then
    raise exception '% must be a name of 1 to 128 characters, got %',
      case scope when 'queue' then 'queue' else 'task type' end, coalesce(quote_literal(pause.key), 'null')
      using errcode = 'JD004';
  end if;
  if reason is not null and (length(reason) < 1 or length(reason) > 1000) then
    raise exception 'reason must be 1 to 1000 characters (or null), got %', length(reason) using errcode = 'JD004';
  end if;
  if paused_by is not null and (length(paused_by) < 1 or length(paused_by) > 200) then
    raise exception 'paused_by must be 1 to 200 characters (or null), got %', length(paused_by) using errcode = 'JD004';
  end if;

  insert into jobdeck_private.pauses as p (scope, key, reason, paused_by)
  values (pause.scope, v_key, pause.reason, coalesce(pause.paused_by, session_user::text))
  on conflict on constraint pauses_pkey do update set reason = excluded.reason, paused_by = excluded.paused_by
  returning p.* into v_row;

  if cancel_running then
    for v_id in
      select j.id from jobdeck.jobs j
       where j.status = 'running' and j.cancel_requested_at is null
         and (pause.scope = 'all' or (pause.scope = 'type' and j.type = v_key)
              or (pause.scope = 'queue' and j.queue = v_key))
       order by j.id
    loop
      perform jobdeck_private.cancel_job(v_id, 'cancelled by the pause of ' ||
        case pause.scope when 'all' then 'everything' when 'type' then format('task type "%s"', v_key)
                         else format('queue "%s"', v_key) end || coalesce(': ' || pause.reason, ''));
      v_cancelled := v_cancelled + 1;
    end loop;
  end if;

  -- Rows whose Graphile job no worker has fetched: locked together (SKIP LOCKED: a row another
  -- transaction is changing is its business), and complete_jobs drops only unlocked Graphile jobs.
  with cand as (
    select j.id, j.gw_job_id
      from jobdeck.jobs j
      join graphile_worker._private_jobs g on g.id = j.gw_job_id
     where j.status in ('queued', 'retrying') and j.held_at is null and g.locked_at is null
       and (pause.scope = 'all' or (pause.scope = 'type' and j.type = v_key)
            or (pause.scope = 'queue' and j.queue = v_key))
     order by j.id
       for update of j, g skip locked
  ), dropped as (
    select c.id from graphile_worker.complete_jobs(array(select c.gw_job_id from cand c)) d
      join cand c on c.gw_job_id = d.id
  ), held as (
    update jobdeck.jobs j
       set held_at = now(), gw_job_id = null, updated_at = now(),
           held_reason = jobdeck_private.pause_reason(j.type, j.queue)
      from dropped d
     where j.id = d.id
    returning j.id, j.attempts, j.held_reason
  ), events as (
    insert into jobdeck.job_events (job_id, kind, level, message, attempt)
    select h.id, 'control', 'info', h.held_reason, h.attempts from held h
  )
  select count(*) into v_held from held;

  -- Jobs a concurrency limit held already now wait for the pause too: say so (release_held leaves
  -- paused jobs alone until the resume).
  update jobdeck.jobs j
     set held_reason = jobdeck_private.pause_reason(j.type, j.queue)
   where j.held_at is not null and j.status in ('queued', 'retrying')
     and j.held_reason is distinct from jobdeck_private.pause_reason(j.type, j.queue)
     and (pause.scope = 'all' or (pause.scope = 'type' and j.type = v_key)
          or (pause.scope = 'queue' and j.queue = v_key));

  return jsonb_build_object('scope', v_row.scope, 'key', nullif(v_row.key, ''), 'reason', v_row.reason,
                            'pausedBy', v_row.paused_by, 'pausedAt', v_row.paused_at,
                            'held', v_held, 'cancelled', v_cancelled);
end;
$function$;
-- privileges on function jobdeck_private.pause(scope text, key text, reason text, cancel_running boolean, paused_by text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.pause_reason(type text, queue text)
 RETURNS text
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select case p.scope when 'all' then 'paused: everything'
                      when 'type' then format('paused: task type "%s"', p.key)
                      else format('paused: queue "%s"', p.key) end
         || coalesce(' (' || p.reason || ')', '')
    from jobdeck_private.pauses p
   where (p.scope = 'all' and p.key = '')
      or (p.scope = 'type' and p.key = pause_reason.type)
      or (p.scope = 'queue' and p.key = pause_reason.queue)
   order by case p.scope when 'all' then 0 when 'type' then 1 else 2 end
   limit 1
$function$;
-- privileges on function jobdeck_private.pause_reason(type text, queue text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.paused_job_ids(job_ids uuid[])
 RETURNS uuid[]
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if not exists (select 1 from jobdeck_private.pauses) then
    return null;
  end if;
  return (select array_agg(j.id order by j.id)
            from jobdeck.jobs j
           where j.id = any(job_ids) and jobdeck_private.pause_reason(j.type, j.queue) is not null);
end;
$function$;
-- privileges on function jobdeck_private.paused_job_ids(job_ids uuid[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.rate_limited(job_ids uuid[])
 RETURNS boolean
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if not exists (select 1 from jobdeck_private.rate_limits) then
    return false;
  end if;
  return exists (select 1 from jobdeck.jobs j
                   join jobdeck_private.rate_limits l
                     on (l.scope = 'type' and l.name = j.type) or (l.scope = 'queue' and l.name = j.queue)
                  where j.id = any(job_ids));
end;
$function$;
-- privileges on function jobdeck_private.rate_limited(job_ids uuid[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.refresh_type_stats()
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  update jobdeck_private.task_types t
     set median_ms = s.median_ms, stats_at = now()
    from (
      select tt.type,
             (select percentile_cont(0.5) within group (order by extract(epoch from (r.finished_at - r.started_at)) * 1000)
                from (select j.finished_at, j.started_at from jobdeck.jobs j
                       where j.type = tt.type and j.status = 'succeeded' and j.started_at is not null
                       order by j.created_at desc limit 200) r)::bigint as median_ms
        from jobdeck_private.task_types tt
    ) s
   where s.type = t.type and s.median_ms is distinct from t.median_ms
$function$;
-- privileges on function jobdeck_private.refresh_type_stats(): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.release_all_held()
 RETURNS integer
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select jobdeck_private.release_held(
    array(select distinct j.org_id from jobdeck.jobs j where j.held_at is not null and j.org_id is not null),
    array(select distinct k from jobdeck.jobs j
                 cross join lateral (values ('type:' || j.type), ('queue:' || j.queue),
                                            ('key:' || j.type || ':' || coalesce(j.concurrency_key, ''))) v(k)
           where j.held_at is not null and k is not null))
$function$;
-- privileges on function jobdeck_private.release_all_held(): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.release_held(org_ids text[], limit_keys text[])
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_ids uuid[];
  v_n   integer;
begin
  if coalesce(cardinality(org_ids), 0) = 0 and coalesce(cardinality(limit_keys), 0) = 0 then
    return 0;
  end if;
  perform jobdeck_private.lock_orgs(org_ids);
  perform jobdeck_private.lock_limits(limit_keys);
  select array_agg(h.id) into v_ids
    from (select j.id from jobdeck.jobs j
           where j.held_at is not null and j.status in ('queued', 'retrying')
             and (j.org_id = any(org_ids) or ('type:' || j.type) = any(limit_keys)
                  or ('queue:' || j.queue) = any(limit_keys)
                  or ('key:' || j.type || ':' || coalesce(j.concurrency_key, '')) = any(limit_keys))
             and jobdeck_private.pause_reason(j.type, j.queue) is null
           order by j.id
             for update skip locked) h;
  if v_ids is null then
    return 0;
  end if;
  with gw as (
    select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
      from graphile_worker.add_jobs(array(
        select row(j.type, json_build_object('jobdeckId', j.id), jobdeck_private.graphile_queue(j.queue),
                   case when j.run_at > now() then j.run_at else coalesce(j.fair_at, now()) end, 25, null,
                   j.priority, null)::graphile_worker.job_spec
          from jobdeck_private.admit_keyed(
                 array(select a.id from jobdeck_private.admit_jobs(v_ids, true) a where a.admitted), true) a
          join jobdeck.jobs j on j.id = a.id
         where a.admitted)) g
  )
  update jobdeck.jobs j set held_at = null, held_reason = null, gw_job_id = gw.gw_job_id, updated_at = now()
    from gw where j.id = gw.id;
  get diagnostics v_n = row_count;
  return v_n;
end;
$function$;
-- privileges on function jobdeck_private.release_held(org_ids text[], limit_keys text[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.release_pools(pool_ids text[])
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_gw bigint[];
begin
  select array_agg(g.id) into v_gw from graphile_worker.jobs g where g.locked_by = any(pool_ids);
  perform graphile_worker.force_unlock_workers(pool_ids);
  if v_gw is not null then
    perform graphile_worker.reschedule_jobs(v_gw, attempts => 0);
    -- Fetched again as first fetches, they must not start from start data: the pool may have run
    -- an attempt whose finish committed before Graphile Worker could complete its job.
    perform jobdeck_private.forget_start_data(v_gw);
  end if;
  return coalesce(cardinality(v_gw), 0);
end;
$function$;
-- privileges on function jobdeck_private.release_pools(pool_ids text[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.requeue_orphans(items jsonb)
 RETURNS SETOF uuid
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_ids uuid[];
begin
  select array_agg(j.id order by j.id) into v_ids
    from (select j.id from jobdeck.jobs j
            join jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint) on v.id = j.id
           where j.status in ('queued', 'retrying') and j.held_at is null
             and j.gw_job_id is not distinct from v.gw_job_id
             and not exists (select 1 from graphile_worker.jobs g where g.id = j.gw_job_id)
           order by j.id
             for update of j skip locked) j;
  if v_ids is null then
    return;
  end if;
  with gw as (
    select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
      from graphile_worker.add_jobs(array(
        select row(j.type, json_build_object('jobdeckId', j.id), jobdeck_private.graphile_queue(j.queue),
                   case when j.run_at > now() then j.run_at else coalesce(j.fair_at, now()) end, 25, null,
                   j.priority, null)::graphile_worker.job_spec
          from jobdeck.jobs j where j.id = any(v_ids))) g
  ), upd as (
    update jobdeck.jobs j set gw_job_id = gw.gw_job_id, updated_at = now() from gw where j.id = gw.id
    returning j.id, j.attempts
  )
  insert into jobdeck.job_events (job_id, kind, level, message, attempt)
  select upd.id, 'control', 'warn',
         'requeued: its Graphile Worker job was gone (a worker stopped before recording the outcome)', upd.attempts
    from upd;
  return query select unnest(v_ids);
end;
$function$;
-- privileges on function jobdeck_private.requeue_orphans(items jsonb): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.requeued_priority(priority integer)
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select greatest(priority - 1, -32768)
$function$;
-- privileges on function jobdeck_private.requeued_priority(priority integer): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.rescue_workers(stale_after interval, rescuer text)
 RETURNS TABLE(id uuid, status text, worker_id text)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_workers text[];
  v_pools   text[];
  v_gw      bigint[];
  v_orgs    text[];
  v_keys    text[];
  v_old_gw  bigint[];
  v_done    jsonb;
begin
  select array_agg(w.id), array_agg(w.pool_id) filter (where w.pool_id is not null)
    into v_workers, v_pools
    from (select w.id, w.pool_id from jobdeck_private.workers w
           where w.heartbeat_at < now() - stale_after and w.id <> rescuer
             for update skip locked) w;
  if v_workers is null then
    return;
  end if;

  v_orgs := jobdeck_private.capped_orgs(array(
    select j.id from jobdeck.jobs j where j.status = 'running' and j.worker_id = any(v_workers)));
  v_keys := jobdeck_private.limit_keys(array(
    select j.id from jobdeck.jobs j where j.status = 'running' and j.worker_id = any(v_workers)));
  perform jobdeck_private.lock_orgs(v_orgs);
  perform jobdeck_private.lock_limits(v_keys);

  if v_pools is not null then
    select array_agg(g.id) into v_gw from graphile_worker.jobs g where g.locked_by = any(v_pools);
    perform graphile_worker.force_unlock_workers(v_pools);
    -- Worker counted an attempt for each job it handed them; jobdeck counts its own.
    if v_gw is not null then
      perform graphile_worker.reschedule_jobs(v_gw, attempts => 0);
      -- Fetched again as first fetches, they must not start from start data: the dead worker may
      -- have run an attempt whose finish committed before Graphile Worker could complete its job.
      perform jobdeck_private.forget_start_data(v_gw);
    end if;
  end if;

  with r as (
    update jobdeck.jobs j
       set status = case when j.cancel_requested_at is not null then 'cancelled'
                         when j.attempts - j.attempts_before_retry < j.max_attempts then 'retrying' else 'failed' end,
           finished_at = case when j.cancel_requested_at is null and j.attempts - j.attempts_before_retry < j.max_attempts then null
                              else now() end,
           errors = j.errors || jsonb_build_array(jsonb_build_object(
             'at', now(), 'attempt', j.attempts, 'name', 'WorkerLostError',
             'message', format('worker %s stopped heartbeating (last seen %s); the attempt was interrupted',
                               j.worker_id, (select w.heartbeat_at from jobdeck_private.workers w where w.id = j.worker_id)),
             'stack', null, 'permanent', false, 'interrupted', true)),
           run_at = now(), eta_at = null, updated_at = now()
     where j.status = 'running' and j.worker_id = any(v_workers)
    returning j.id, j.status, j.worker_id, j.gw_job_id
  )
  select coalesce(jsonb_agg(to_jsonb(r)), '[]') into v_done from r;

  -- The interrupted attempts' Worker jobs go (a stalled worker that wakes up cannot complete the
  -- next attempt's job by id); retrying jobs get a fresh one, as after any failed attempt.
  select array_agg(r.gw_job_id) into v_old_gw
    from jsonb_to_recordset(v_done) as r(id uuid, status text, worker_id text, gw_job_id bigint)
   where r.gw_job_id is not null;
  if v_old_gw is not null then
    perform graphile_worker.complete_jobs(v_old_gw);
  end if;
  with gw as (
    select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
      from graphile_worker.add_jobs(array(
        select row(j.type, json_build_object('jobdeckId', j.id), jobdeck_private.graphile_queue(j.queue), j.run_at, 25, null,
                   jobdeck_private.requeued_priority(j.priority), null)::graphile_worker.job_spec
          from jobdeck.jobs j
          join jsonb_to_recordset(v_done) as r(id uuid, status text) on r.id = j.id and r.status = 'retrying')) g
  )
  update jobdeck.jobs j set gw_job_id = gw.gw_job_id from gw where j.id = gw.id;
  delete from jobdeck_private.workers w where w.id = any(v_workers);
  if v_orgs is not null or v_keys is not null then
    perform jobdeck_private.release_held(v_orgs, v_keys);
  end if;
  return query select r.id, r.status, r.worker_id
    from jsonb_to_recordset(v_done) as r(id uuid, status text, worker_id text);
end;
$function$;
-- privileges on function jobdeck_private.rescue_workers(stale_after interval, rescuer text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.reset_rate_limit(scope text, name text)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_gw_ids bigint[];
begin
  delete from jobdeck_private.rate_buckets b where b.scope = reset_rate_limit.scope and b.name = reset_rate_limit.name;
  with waiting as (
    update jobdeck.jobs j set run_at = now(), held_reason = null, updated_at = now()
     where j.status in ('queued', 'retrying') and j.held_at is null and j.gw_job_id is not null
       and j.held_reason like 'rate limited:%'
       and ((reset_rate_limit.scope = 'type' and j.type = reset_rate_limit.name)
            or (reset_rate_limit.scope = 'queue' and j.queue = reset_rate_limit.name))
    returning j.gw_job_id
  )
  select array_agg(w.gw_job_id) into v_gw_ids from waiting w;
  if v_gw_ids is not null then
    perform graphile_worker.reschedule_jobs(v_gw_ids, run_at => now());
  end if;
end;
$function$;
-- privileges on function jobdeck_private.reset_rate_limit(scope text, name text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.resume(scope text, key text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_key      text := coalesce(resume.key, '');
  v_found    boolean;
  v_released integer := 0;
begin
  if scope is null or scope not in ('queue', 'type', 'all') then
    raise exception 'scope must be "queue", "type" or "all", got %', coalesce(quote_literal(scope), 'null')
      using errcode = 'JD004';
  end if;
  if scope = 'all' then
    v_key := '';
  elsif length(v_key) < 1 or length(v_key) > 128 then
    raise exception '% must be a name of 1 to 128 characters, got %',
      case scope when 'queue' then 'queue' else 'task type' end, coalesce(quote_literal(resume.key), 'null')
      using errcode = 'JD004';
  end if;

  delete from jobdeck_private.pauses p where p.scope = resume.scope and p.key = v_key;
  v_found := found;
  if v_found then
    v_released := case resume.scope
      when 'all' then jobdeck_private.release_all_held()
      when 'type' then jobdeck_private.release_held(null, array['type:' || v_key])
      else jobdeck_private.release_held(null, array['queue:' || v_key]) end;
    -- Those still held: say what holds them now (another pause, or a concurrency limit).
    update jobdeck.jobs j
       set held_reason = coalesce(jobdeck_private.pause_reason(j.type, j.queue),
                                  'held: waiting for room under a concurrency limit')
     where j.held_at is not null and j.status in ('queued', 'retrying') and j.held_reason like 'paused:%'
       and (resume.scope = 'all' or (resume.scope = 'type' and j.type = v_key)
            or (resume.scope = 'queue' and j.queue = v_key));
  end if;
  return jsonb_build_object('scope', resume.scope, 'key', nullif(v_key, ''), 'resumed', v_found,
                            'released', v_released);
end;
$function$;
-- privileges on function jobdeck_private.resume(scope text, key text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.retry_delay(backoff jsonb, attempt integer)
 RETURNS interval
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_ms     float8;
  v_n      integer;
  v_jitter float8;
begin
  if backoff is not null and backoff ? 'delaysMs' then
    v_n := jsonb_array_length(backoff -> 'delaysMs');
    v_ms := (backoff -> 'delaysMs' ->> (least(greatest(attempt, 1), v_n) - 1))::float8;
    v_jitter := coalesce((backoff ->> 'jitter')::float8, 0);
  else
    v_ms := least(coalesce((backoff ->> 'maxMs')::float8, 3600000),
                  coalesce((backoff ->> 'baseMs')::float8, 2000)
                    * power(coalesce((backoff ->> 'factor')::float8, 2), least(greatest(attempt - 1, 0), 60)));
    v_jitter := coalesce((backoff ->> 'jitter')::float8, 0.2);
  end if;
  v_ms := greatest(0, v_ms * (1 + v_jitter * (2 * random() - 1)));
  return make_interval(secs => v_ms / 1000.0);
end;
$function$;
-- privileges on function jobdeck_private.retry_delay(backoff jsonb, attempt integer): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.retry_job(job_id uuid, keep_steps boolean DEFAULT true)
 RETURNS jobdeck.jobs
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_job   jobdeck.jobs;
  v_other uuid;
  v_gw    bigint;
begin
  if job_id is null then
    raise exception 'job id is required' using errcode = 'JD004';
  end if;
  select * into v_job from jobdeck.jobs j where j.id = retry_job.job_id for update;
  if not found then
    raise exception 'job % not found', job_id using errcode = 'JD010';
  end if;
  if v_job.status not in ('failed', 'cancelled') then
    raise exception 'job % is % and cannot be retried: only failed or cancelled jobs can', job_id, v_job.status
      using errcode = 'JD011', detail = json_build_object('status', v_job.status)::text;
  end if;
  if v_job.key is not null then
    select j.id into v_other from jobdeck.jobs j
     where j.key = v_job.key and j.status in ('queued', 'running', 'retrying') and j.id <> v_job.id;
    if found then
      raise exception 'job % cannot be retried: job % holds its key "%" and is not finished', job_id, v_other, v_job.key
        using errcode = 'JD011', detail = json_build_object('status', v_job.status)::text;
    end if;
  end if;
  v_gw := (graphile_worker.add_job(
    identifier => v_job.type,
    payload => json_build_object('jobdeckId', v_job.id),
    queue_name => jobdeck_private.graphile_queue(v_job.queue),
    max_attempts => 25,
    priority => v_job.priority
  )).id;
  begin
    update jobdeck.jobs j
       set status = 'queued', attempts_before_retry = j.attempts, manual_retries = j.manual_retries + 1, run_at = now(),
           finished_at = null, started_at = null, result = null, progress = 0, current_step = null,
           completed_steps = 0, total_steps = null, cancel_requested_at = null, cancel_reason = null,
           held_at = null, eta_at = null, worker_id = null, gw_job_id = v_gw, updated_at = now(),
           purge_on = 'infinity'  -- back to jobs_live, wherever it was (migration 000024)
     where j.id = v_job.id returning j.* into v_job;
  exception when unique_violation then
    raise exception 'job % cannot be retried: another unfinished job took its key "%"', job_id, v_job.key
      using errcode = 'JD011', detail = json_build_object('status', v_job.status)::text;
  end;
  delete from jobdeck.job_steps s
   where s.job_id = v_job.id and (not coalesce(retry_job.keep_steps, true) or s.completed_at is null);
  insert into jobdeck.job_events (job_id, kind, level, message, attempt)
  values (v_job.id, 'control', 'info',
          case when coalesce(retry_job.keep_steps, true)
               then 'retried by hand with a fresh attempt budget'
               else 'retried by hand with a fresh attempt budget, its step results dropped' end,
          v_job.attempts);
  return v_job;
end;
$function$;
comment on function jobdeck_private.retry_job(job_id uuid, keep_steps boolean) is 'Run a failed or cancelled job again with a fresh attempt budget; earlier errors are kept; completed steps are kept unless keep_steps is false. Errors: JD010, JD011.';
-- privileges on function jobdeck_private.retry_job(job_id uuid, keep_steps boolean): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.revive_dependants(job_ids uuid[])
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_ids uuid[];
begin
  if coalesce(pg_catalog.cardinality(job_ids), 0) = 0 then
    return 0;
  end if;
  with recursive c(id) as (
    select j.id from jobdeck.jobs j
     where j.depends_on && job_ids and j.depends_on is not null and j.status = 'cancelled'
       and j.cancel_requested_at is null and j.cancel_reason like 'dependency %'
    union
    select j.id
      from c join jobdeck.jobs j on j.depends_on && array[c.id]
     where j.depends_on is not null and j.status = 'cancelled'
       and j.cancel_requested_at is null and j.cancel_reason like 'dependency %'
  ), revived as (
    update jobdeck.jobs j
       set status = 'waiting', finished_at = null, cancel_reason = null, updated_at = pg_catalog.now(),
           purge_on = 'infinity'  -- back to jobs_live, wherever it was (migration 000024)
      from (select c.id from c order by c.id) c
     where j.id = c.id and j.status = 'cancelled'
    returning j.id
  )
  select array_agg(r.id) into v_ids from revived r;
  perform jobdeck_private.settle_waiting(v_ids);
  return coalesce(pg_catalog.cardinality(v_ids), 0);
end;
$function$;
comment on function jobdeck_private.revive_dependants(job_ids uuid[]) is 'Put the dependants a failure cancelled back to waiting (transitively) when the failed job is retried.';
-- privileges on function jobdeck_private.revive_dependants(job_ids uuid[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.set_email_notification(job_id uuid, recipients text[], events text[])
 RETURNS jobdeck.jobs
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_job jobdeck.jobs;
  v_to text[];
  v_on text[] := coalesce(events, array['succeeded', 'failed']);
  v_i integer;
begin
  select pg_catalog.array_agg(distinct r) into v_to
    from pg_catalog.unnest(recipients) r;
  if v_to is null or pg_catalog.cardinality(v_to) < 1 or pg_catalog.cardinality(v_to) > 10 then
    raise exception 'notify_email must list 1 to 10 addresses, got %', coalesce(pg_catalog.cardinality(v_to), 0)
      using errcode = 'JD004';
  end if;
  for v_i in 1 .. pg_catalog.cardinality(recipients) loop
    if recipients[v_i] is null or pg_catalog.length(recipients[v_i]) > 254
       or recipients[v_i] !~ '^[^\s@<>,;:"()\[\]\\]+@[^\s@<>,;:"()\[\]\\]+\.[^\s@<>,;:"()\[\]\\]+$' then
      raise exception 'notify_email[%] is not an e-mail address (local@domain.tld, at most 254 characters)', v_i
        using errcode = 'JD004';
    end if;
  end loop;
  if pg_catalog.cardinality(v_on) < 1
     or exists (select 1 from pg_catalog.unnest(v_on) e where e is null or e not in ('succeeded', 'failed')) then
    raise exception 'notify_on must list succeeded and/or failed' using errcode = 'JD004';
  end if;
  update jobdeck.jobs j
     set notify_email = pg_catalog.jsonb_build_object(
           'to', pg_catalog.to_jsonb(v_to),
           'on', (select pg_catalog.jsonb_agg(distinct e) from pg_catalog.unnest(v_on) e))
   where j.id = job_id
  returning j.* into v_job;
  perform jobdeck_private.forget_start_data(array[v_job.gw_job_id]);
  return v_job;
end;
$function$;
-- privileges on function jobdeck_private.set_email_notification(job_id uuid, recipients text[], events text[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.set_webhook(job_id uuid, url text)
 RETURNS jobdeck.jobs
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_job jobdeck.jobs;
begin
  if url !~ '^https?://[^\s]+$' or length(url) > 2000 then
    -- The URL itself is not repeated: it may carry a secret (docs/security.md).
    raise exception 'webhook_url must be an http(s) URL of at most 2000 characters, got % characters starting "%"',
      length(url), left(url, 8) using errcode = 'JD004';
  end if;
  update jobdeck.jobs j set webhook_url = url where j.id = job_id returning j.* into v_job;
  perform jobdeck_private.forget_start_data(array[v_job.gw_job_id]);
  return v_job;
end;
$function$;
-- privileges on function jobdeck_private.set_webhook(job_id uuid, url text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.settle_waiting(job_ids uuid[])
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_ids     uuid[];
  v_cancel  uuid[];
  v_reasons text[];
  v_release uuid[];
  v_n       integer := 0;
  v_m       integer;
begin
  if coalesce(pg_catalog.cardinality(job_ids), 0) = 0 then
    return 0;
  end if;
  select array_agg(w.id) into v_ids
    from (select j.id from jobdeck.jobs j
           where j.id = any(job_ids) and j.status = 'waiting'
           order by j.id
             for update) w;
  if v_ids is null then
    return 0;
  end if;

  -- Decided into arrays before anything changes: the cancel below fires the settle trigger again
  -- (for the cancelled jobs' own dependants), which calls this function re-entrantly.
  select array_agg(s.id order by s.id) filter (where s.bad_id is not null and s.policy = 'cancel'),
         array_agg('dependency ' || s.bad_id || case s.bad_status when 'failed' then ' failed' else ' was cancelled' end
                   order by s.id) filter (where s.bad_id is not null and s.policy = 'cancel'),
         array_agg(s.id order by s.id) filter (where s.all_done and (s.bad_id is null or s.policy = 'run'))
    into v_cancel, v_reasons, v_release
    from (select j.id, j.on_dependency_failure as policy,
                 bool_and(coalesce(p.status, 'succeeded') in ('succeeded', 'failed', 'cancelled')) as all_done,
                 (array_agg(p.id order by p.id) filter (where p.status in ('failed', 'cancelled')))[1] as bad_id,
                 (array_agg(p.status order by p.id) filter (where p.status in ('failed', 'cancelled')))[1] as bad_status
            from jobdeck.jobs j
            cross join lateral pg_catalog.unnest(j.depends_on) d(id)
            left join jobdeck.jobs p on p.id = d.id
           where j.id = any(v_ids)
           group by j.id, j.on_dependency_failure) s;

  if v_cancel is not null then
    -- The closure first, then its rows locked in id order (as every other locker of jobs rows
    -- does), then the update: two settles cancelling overlapping descendants cannot deadlock.
    with recursive c(id, reason) as (
      select l.id, l.reason from rows from (pg_catalog.unnest(v_cancel), pg_catalog.unnest(v_reasons)) as l(id, reason)
      union
      select j.id, c.reason
        from c join jobdeck.jobs j on j.depends_on && array[c.id]
       where j.depends_on is not null and j.status = 'waiting' and j.on_dependency_failure = 'cancel'
    ), one as (
      select distinct on (c.id) c.id, c.reason from c order by c.id, c.reason
    )
    select array_agg(one.id order by one.id), array_agg(one.reason order by one.id)
      into v_cancel, v_reasons from one;
    perform 1 from (select j.id from jobdeck.jobs j where j.id = any(v_cancel) order by j.id for update) l;
    update jobdeck.jobs j
       set status = 'cancelled', finished_at = pg_catalog.now(), cancel_reason = pg_catalog.left(l.reason, 1000),
           eta_at = null, updated_at = pg_catalog.now()
      from rows from (pg_catalog.unnest(v_cancel), pg_catalog.unnest(v_reasons)) as l(id, reason)
     where j.id = l.id and j.status = 'waiting';
    get diagnostics v_n = row_count;
  end if;

  if v_release is not null then
    with gw as (
      select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
        from graphile_worker.add_jobs(array(
          select row(j.type, pg_catalog.json_build_object('jobdeckId', j.id), jobdeck_private.graphile_queue(j.queue),
                     greatest(j.run_at, pg_catalog.now()), 25, null, j.priority, null)::graphile_worker.job_spec
            from jobdeck.jobs j
           where j.id = any(v_release) and j.status = 'waiting')) g
    )
    update jobdeck.jobs j set status = 'queued', gw_job_id = gw.gw_job_id, updated_at = pg_catalog.now()
      from gw where j.id = gw.id;
    get diagnostics v_m = row_count;
    v_n := v_n + v_m;
  end if;
  return v_n;
end;
$function$;
comment on function jobdeck_private.settle_waiting(job_ids uuid[]) is 'Queue waiting jobs whose dependencies all succeeded; cancel (transitively) or queue those one of whose dependencies failed, by their on_dependency_failure.';
-- privileges on function jobdeck_private.settle_waiting(job_ids uuid[]): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.start_data_allowed(type text, queue text, org_id text)
 RETURNS boolean
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
begin
  return not exists (select 1 from jobdeck_private.workers w where not w.reads_start_data)
     and (start_data_allowed.org_id is null
          or (jobdeck_private.org_cap() is null
              and not exists (select 1 from jobdeck_private.task_types t
                               where t.type = start_data_allowed.type and t.org_concurrency is not null)))
     and not exists (select 1 from jobdeck_private.task_types t
                      where t.type = start_data_allowed.type and t.key_concurrency is not null)
     and not exists (select 1 from jobdeck_private.concurrency_limits l
                      where (l.scope = 'type' and l.key = start_data_allowed.type)
                         or (l.scope = 'queue' and l.key = start_data_allowed.queue))
     and not exists (select 1 from jobdeck_private.rate_limits l
                      where (l.scope = 'type' and l.name = start_data_allowed.type)
                         or (l.scope = 'queue' and l.name = start_data_allowed.queue))
     and not exists (select 1 from jobdeck_private.pauses p
                      where (p.scope = 'all' and p.key = '')
                         or (p.scope = 'type' and p.key = start_data_allowed.type)
                         or (p.scope = 'queue' and p.key = start_data_allowed.queue));
end;
$function$;
-- privileges on function jobdeck_private.start_data_allowed(type text, queue text, org_id text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.start_jobs(items jsonb, worker_id text)
 RETURNS SETOF jobdeck.jobs
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_ids  uuid[];
  v_gws  bigint[];
  v_orgs text[];
  v_keys text[];
  v_rate boolean;
  v_ok      uuid[];
  v_held    uuid[];
  v_reasons text[];
  v_def     uuid[];
  v_def_at  timestamptz[];
  v_wake_at timestamptz[];
  v_ahead   uuid[];
  v_ahead_at timestamptz[];
  v_first   boolean[];
begin
  insert into jobdeck.jobs as j (type, queue, priority, payload, max_attempts, run_at, gw_job_id, metadata)
  select v.type, v.queue, v.priority, coalesce(v.payload, '{}'), v.max_attempts, coalesce(v.run_at, now()),
         v.gw_job_id, jsonb_build_object('source', v.source)
    from jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint, type text, queue text, payload jsonb,
                                        priority integer, max_attempts integer, run_at timestamptz, source text)
   where v.id is null
  on conflict (gw_job_id, purge_on) where gw_job_id is not null do nothing;  -- purge_on: in the unique index since 000024

  -- A `running` row is only restarted when its worker is gone (Worker's own 4-hour lock sweep);
  -- while its worker lives, this Worker job is a duplicate and is dropped.
  select array_agg(j.id), array_agg(j.gw_job_id) into v_ids, v_gws
    from jsonb_to_recordset(items) as v(id uuid, gw_job_id bigint)
    join jobdeck.jobs j on j.gw_job_id = v.gw_job_id and (v.id is null or j.id = v.id)
     and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
   where j.status in ('queued', 'retrying')
      or (j.status = 'running'
          and not exists (select 1 from jobdeck_private.workers w where w.id = j.worker_id));
  if v_ids is null then
    return;
  end if;

  v_orgs := jobdeck_private.capped_orgs(v_ids);
  v_keys := jobdeck_private.limit_keys(v_ids);
  v_rate := jobdeck_private.rate_limited(v_ids);
  if v_orgs is null and v_keys is null and not v_rate and jobdeck_private.paused_job_ids(v_ids) is null then
    return query
    update jobdeck.jobs j
       set status = 'running', attempts = j.attempts + 1, worker_id = start_jobs.worker_id, started_at = now(),
           heartbeat_at = now(), updated_at = now(), progress = 0, current_step = null, completed_steps = 0,
           held_at = null, held_reason = null, peak_rss_bytes = null, cpu_ms = null, total_steps = null,
           eta_at = jobdeck_private.estimate_eta(now(), 0,
             (select t.median_ms from jobdeck_private.task_types t where t.type = j.type))
     where j.id = any(v_ids) and j.gw_job_id = any(v_gws) and j.status in ('queued', 'retrying', 'running')
       and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
    returning j.*;
    return;
  end if;

  -- Lock order: organisations, limits, then the rows (by id).
  perform jobdeck_private.lock_orgs(v_orgs);
  perform jobdeck_private.lock_limits(v_keys);
  select array_agg(c.id) into v_ids
    from (select j.id from jobdeck.jobs j
           where j.id = any(v_ids) and j.gw_job_id = any(v_gws) and j.status in ('queued', 'retrying', 'running')
             and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
           order by j.id
             for update of j) c;
  if v_ids is null then
    return;
  end if;
  -- Each step below runs only when it has rows to write: an UPDATE of jobdeck.jobs fires its
  -- statement triggers (transition tables, NOTIFY) even for no row, and add_jobs costs
  -- milliseconds even for an empty array (docs/performance.md, "What a configured limit costs").
  select array_agg(a.id) filter (where a.admitted),
         array_agg(a.id) filter (where not a.admitted), array_agg(a.reason) filter (where not a.admitted)
    into v_ok, v_held, v_reasons
    from jobdeck_private.admit_jobs(v_ids, false) a;
  if v_ok is not null and exists (select 1 from unnest(v_keys) k where k like 'key:%') then
    -- per-key concurrency limits, on the jobs the caps let through
    select array_agg(k.id) filter (where k.admitted),
           v_held || array_agg(k.id) filter (where not k.admitted),
           v_reasons || array_agg(k.reason) filter (where not k.admitted)
      into v_ok, v_held, v_reasons
      from jobdeck_private.admit_keyed(v_ok, false) k;
  end if;
  if v_held is not null then
    with held as (
      update jobdeck.jobs j set held_at = now(), held_reason = u.reason, gw_job_id = null, updated_at = now()
        from unnest(v_held, v_reasons) as u(id, reason)
       where j.id = u.id
      returning j.id, j.attempts, u.reason
    )
    insert into jobdeck.job_events (job_id, kind, level, message, attempt)
    select h.id, 'control', 'info', h.reason, h.attempts
      from held h;
  end if;

  if v_rate and v_ok is not null then
    -- rate limits, on the jobs every concurrency limit let through (sql/rate/admit_rated.sql)
    select array_agg(r.id) filter (where r.admitted),
           array_agg(r.id) filter (where r.admitted and r.start_at is not null),
           array_agg(r.start_at) filter (where r.admitted and r.start_at is not null),
           array_agg(r.id) filter (where not r.admitted),
           array_agg(r.next_at) filter (where not r.admitted), array_agg(r.wake_at) filter (where not r.admitted),
           array_agg(r.reason) filter (where not r.admitted), array_agg(r.first_wait) filter (where not r.admitted)
      into v_ok, v_ahead, v_ahead_at, v_def, v_def_at, v_wake_at, v_reasons, v_first
      from jobdeck_private.admit_rated(v_ok) r;
    if v_def is not null then
      with r as (
        select * from unnest(v_def, v_def_at, v_wake_at, v_reasons, v_first) as u(id, next_at, wake_at, reason, first_wait)
      ), rate_gw as (
        select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
          from graphile_worker.add_jobs(array(
            select row(j.type, json_build_object('jobdeckId', j.id), jobdeck_private.graphile_queue(j.queue),
                       -- one notch more urgent in Graphile Worker's order (the row keeps its priority):
                       -- Graphile takes it once due, ahead of same-priority jobs whose fair turns lie in
                       -- the past, instead of waiting behind a whole backlog for its slot
                       r.wake_at, 25, null, jobdeck_private.requeued_priority(j.priority), null)::graphile_worker.job_spec
              from r join jobdeck.jobs j on j.id = r.id)) g
      ), deferred as (
        update jobdeck.jobs j set gw_job_id = g.gw_job_id, run_at = r.next_at, held_reason = r.reason, updated_at = now()
          from rate_gw g join r on r.id = g.id
         where j.id = g.id
        returning j.id, j.attempts, r.reason, r.first_wait
      )
      insert into jobdeck.job_events (job_id, kind, level, message, attempt)
      select d.id, 'control', 'info', d.reason, d.attempts
        from deferred d
       where d.first_wait;
    end if;
  end if;

  if v_ok is not null then
    return query
    update jobdeck.jobs j
       set status = 'running', attempts = j.attempts + 1, worker_id = start_jobs.worker_id,
           -- a job a rate limit admitted ahead of its slot starts at the slot (the worker waits
           -- for it: started_at - updated_at, src/worker/wrap-task.ts)
           started_at = coalesce((select a.at from unnest(v_ahead, v_ahead_at) as a(id, at) where a.id = j.id), now()),
           heartbeat_at = now(), updated_at = now(), progress = 0, current_step = null, completed_steps = 0,
           held_at = null, held_reason = null, peak_rss_bytes = null, cpu_ms = null, total_steps = null,
           eta_at = jobdeck_private.estimate_eta(now(), 0,
             (select t.median_ms from jobdeck_private.task_types t where t.type = j.type))
     where j.id = any(v_ok)
    returning j.*;
  end if;
end;
$function$;
-- privileges on function jobdeck_private.start_jobs(items jsonb, worker_id text): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.tg_flow_rules__version()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  insert into jobdeck_private.settings as s (name, value) values ('flow_rules_version', '1'::jsonb)
  on conflict (name) do update
    set value = pg_catalog.to_jsonb((s.value #>> '{}'::text[])::bigint + 1), updated_at = pg_catalog.now();
  perform jobdeck_private.notify_jobs('cancel', array['00000000-0000-0000-0000-000000000000'::uuid]);
  return null;
end;
$function$;
-- privileges on function jobdeck_private.tg_flow_rules__version(): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.tg_jobs__after_delete()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  -- By the events index, one job at a time (a hash join could scan every event).
  delete from jobdeck.job_events e where e.job_id = any(array(select o.id from old_rows o));
  delete from jobdeck.job_steps s where s.job_id = any(array(select o.id from old_rows o));
  delete from jobdeck_private.job_signals g where g.job_id = any(array(select o.id from old_rows o));
  return null;
end;
$function$;
-- privileges on function jobdeck_private.tg_jobs__after_delete(): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.tg_jobs__after_insert()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  -- new jobs on their owner and organisation channels (lists of active jobs); a job without an
  -- organisation is on neither, so it costs no call and no NOTIFY here
  perform jobdeck_private.notify_jobs('new', pg_catalog.array_agg(n.id), pg_catalog.array_agg(n.owner_id),
                                      pg_catalog.array_agg(n.org_id))
     from new_rows n
    where n.org_id is not null
   having pg_catalog.count(*) > 0;

  insert into jobdeck.job_events (job_id, kind, level, message, attempt)
  select n.id, 'transition', 'info',
         case when n.status = 'running' then 'running (attempt ' || n.attempts || ')' else n.status end,
         n.attempts
  from new_rows n;
  return null;
end;
$function$;
-- privileges on function jobdeck_private.tg_jobs__after_insert(): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.tg_jobs__after_update()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform jobdeck_private.notify_jobs('change', pg_catalog.array_agg(n.id), pg_catalog.array_agg(n.owner_id),
                                      pg_catalog.array_agg(n.org_id))
     from new_rows n join old_rows o on o.id = n.id
    where (n.status, n.progress, n.current_step, n.completed_steps, n.total_steps, n.attempts, n.cancel_requested_at,
           n.held_at is null, n.run_at, n.owner_id, n.org_id)
      is distinct from
          (o.status, o.progress, o.current_step, o.completed_steps, o.total_steps, o.attempts, o.cancel_requested_at,
           o.held_at is null, o.run_at, o.owner_id, o.org_id)
   having pg_catalog.count(*) > 0;

  perform jobdeck_private.notify_jobs('cancel', pg_catalog.array_agg(n.id))
     from new_rows n join old_rows o on o.id = n.id
    where n.status = 'cancelled' and o.status in ('queued', 'retrying')
   having pg_catalog.count(*) > 0;

  insert into jobdeck.job_events (job_id, at, kind, level, message, data, attempt)
  select e.job_id, e.at, 'transition', e.level, e.message, e.data, e.attempt
  from (
    select n.id as job_id, pg_catalog.now() as at,
           case n.status when 'failed' then 'error' when 'retrying' then 'warn' else 'info' end as level,
           case
             when n.status in ('failed', 'retrying') and pg_catalog.jsonb_array_length(n.errors) > pg_catalog.jsonb_array_length(o.errors)
               then n.status || ': ' || pg_catalog.left(n.errors -> -1 ->> 'message', 500)
             when n.status = 'retrying' then 'retrying at ' || pg_catalog.to_char(n.run_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
             when n.status = 'queued' and o.status = 'running' and n.rate_deferrals > o.rate_deferrals
               then 'queued again: ' || n.held_reason
             -- a sleep or waitFor parks the job until a later run_at (finish_jobs); a shutdown requeues it for now
             when n.status = 'queued' and o.status = 'running' and n.run_at > pg_catalog.now()
               then 'queued again: parked (sleep or waitFor) until ' || pg_catalog.to_char(n.run_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
             when n.status = 'queued' and o.status = 'running' then 'queued again: the attempt was interrupted by a worker shutdown'
             when n.status = 'cancelled' and n.cancel_reason is not null then 'cancelled: ' || pg_catalog.left(n.cancel_reason, 500)
             when n.status = 'running' and o.status = 'running' then 'running (attempt ' || n.attempts || ', rescued)'
             when n.status = 'running' then 'running (attempt ' || n.attempts || ')'
             else n.status
           end as message,
           pg_catalog.jsonb_build_object('from', case when o.status in ('queued', 'retrying') and n.status <> 'running'
                                                and n.attempts > o.attempts then 'running' else o.status end,
                              'to', n.status) ||
             case when n.status = 'retrying' then pg_catalog.jsonb_build_object('runAt', n.run_at) else '{}' end ||
             -- the end of an attempt never marked running carries its start
             case when o.status in ('queued', 'retrying') and n.status <> 'running' and n.attempts > o.attempts
                       and n.started_at is not null
                  then pg_catalog.jsonb_build_object('startedAt', n.started_at) else '{}' end as data,
           n.attempts as attempt
      from new_rows n join old_rows o on o.id = n.id
     where n.status is distinct from o.status
        or (n.status = 'running' and n.attempts is distinct from o.attempts)
        or (n.status = 'retrying' and n.attempts > o.attempts)
  ) e
  order by e.job_id;
  return null;
end;
$function$;
-- privileges on function jobdeck_private.tg_jobs__after_update(): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.tg_jobs__count_batch()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_skip text := pg_catalog.current_setting('jobdeck.counting_batch', true);
begin
  if not exists (select 1 from new_rows n where n.batch_id is not null) then
    return null;
  end if;
  perform jobdeck_private.count_batches(pg_catalog.array_agg(d.batch_id order by d.batch_id),
                                        pg_catalog.array_agg(d.succeeded order by d.batch_id),
                                        pg_catalog.array_agg(d.failed order by d.batch_id),
                                        pg_catalog.array_agg(d.cancelled order by d.batch_id))
     from (select n.batch_id,
                  (pg_catalog.count(*) filter (where n.status = 'succeeded')
                     - pg_catalog.count(*) filter (where o.status = 'succeeded'))::integer as succeeded,
                  (pg_catalog.count(*) filter (where n.status = 'failed')
                     - pg_catalog.count(*) filter (where o.status = 'failed'))::integer as failed,
                  (pg_catalog.count(*) filter (where n.status = 'cancelled')
                     - pg_catalog.count(*) filter (where o.status = 'cancelled'))::integer as cancelled
             from new_rows n join old_rows o on o.id = n.id
            where n.batch_id is not null and n.status is distinct from o.status
              and (n.status in ('succeeded', 'failed', 'cancelled') or o.status in ('succeeded', 'failed', 'cancelled'))
              and n.batch_id::pg_catalog.text is distinct from v_skip
            group by n.batch_id) d
   having pg_catalog.count(*) > 0;
  return null;
end;
$function$;
-- privileges on function jobdeck_private.tg_jobs__count_batch(): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.tg_jobs__deliveries()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_webhooks boolean := exists (select 1 from jobdeck_private.task_types where type = 'deliver_webhook');
  v_email boolean := exists (select 1 from jobdeck_private.task_types where type = 'deliver_email');
  d record;
begin
  if not (v_webhooks or v_email) then
    return null;
  end if;
  for d in
    select n.id, n.status,
           coalesce(n.webhook_url, t.webhook_url) as url,
           coalesce(n.notify_email, t.notify_email) as notify
      from new_rows n
      join old_rows o on o.id = n.id
      left join jobdeck_private.task_types t on t.type = n.type
     where n.status in ('succeeded', 'failed') and o.status is distinct from n.status
       and n.type not in ('deliver_webhook', 'deliver_email')
       and (coalesce(n.webhook_url, t.webhook_url) is not null
            or coalesce(n.notify_email, t.notify_email) is not null)
  loop
    if v_webhooks and d.url is not null then
      perform jobdeck_private.enqueue_delivery(
        'deliver_webhook', d.id, jsonb_build_object('jobId', d.id, 'url', d.url, 'event', 'job.' || d.status));
    end if;
    if v_email and d.notify -> 'on' ? d.status then
      perform jobdeck_private.enqueue_delivery(
        'deliver_email', d.id,
        jsonb_build_object('jobId', d.id, 'to', d.notify -> 'to', 'event', 'job.' || d.status));
    end if;
  end loop;
  return null;
end;
$function$;
-- privileges on function jobdeck_private.tg_jobs__deliveries(): owner only

CREATE OR REPLACE FUNCTION jobdeck_private.tg_jobs__settle_dependants()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_ended   uuid[];
  v_retried uuid[];
begin
  if not exists (select 1 from new_rows n where n.has_dependants) then
    return null;
  end if;
  select array_agg(n.id) filter (where n.status in ('succeeded', 'failed', 'cancelled')),
         array_agg(n.id) filter (where o.status in ('failed', 'cancelled')
                                   and n.status not in ('succeeded', 'failed', 'cancelled'))
    into v_ended, v_retried
    from new_rows n join old_rows o on o.id = n.id
   where n.has_dependants and n.status is distinct from o.status;
  if v_retried is not null then
    perform jobdeck_private.revive_dependants(v_retried);
  end if;
  if v_ended is not null then
    perform jobdeck_private.settle_waiting(array(
      select j.id from jobdeck.jobs j
       where j.depends_on && v_ended and j.depends_on is not null and j.status = 'waiting'));
  end if;
  return null;
end;
$function$;
-- privileges on function jobdeck_private.tg_jobs__settle_dependants(): owner only
