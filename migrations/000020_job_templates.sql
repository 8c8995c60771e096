-- jobdeck 000020: job templates (issue 21, item 5; seed 004's "job templates").
--
-- A template is a named preset of an enqueue: the task type, payload defaults, priority, queue,
-- max_attempts and notifications (webhook URL, e-mail). Trusted callers write them
-- (jobdeck.set_job_template, jobdeck.delete_job_template); anyone who may enqueue enqueues by
-- name (jobdeck.enqueue_template for trusted callers, jobdeck.enqueue_from_template for API
-- callers). Per-type limits (concurrency, rate, timeouts) stay on defineTask: a template carries
-- only what one job can carry.
--
-- org_id null: a template every organisation may use; else only that organisation's callers.
-- Names are unique across organisations (the primary key), so a name means one preset.
-- In the jobdeck schema so the API can read it (GraphQL `jobTemplates`, REST GET /api/v2/templates)
-- through row-level security; webhook_url and notify_email are not granted to the request roles
-- (they may carry a secret, or name people), as on jobdeck.jobs they are not shown.

create table jobdeck.job_templates (
  name             text primary key
                   constraint name_format check (name ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'),
  type             text not null constraint type_length check (length(type) between 1 and 128),
  payload_defaults jsonb not null default '{}'
                   constraint payload_defaults_is_object check (jsonb_typeof(payload_defaults) = 'object'),
  priority         integer constraint priority_in_range check (priority between -32768 and 32767),
  queue            text constraint queue_length check (length(queue) between 1 and 128),
  max_attempts     integer constraint max_attempts_in_range check (max_attempts between 1 and 32767),
  webhook_url      text constraint webhook_url_format check (webhook_url ~ '^https?://[^\s]+$' and length(webhook_url) <= 2000),
  notify_email     text[] constraint notify_email_count check (cardinality(notify_email) between 1 and 10),
  notify_on        text[] constraint notify_on_known check (notify_on <@ array['succeeded', 'failed'] and cardinality(notify_on) >= 1),
  description      text constraint description_length check (length(description) between 1 and 1000),
  org_id           text constraint org_id_length check (length(org_id) between 1 and 200),
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  constraint notify_on_needs_email check (notify_on is null or notify_email is not null)
);
comment on table jobdeck.job_templates is
  'Job templates: named presets of an enqueue (type, payload defaults, priority, queue, max_attempts, notifications). org_id null: usable by every organisation.';
comment on column jobdeck.job_templates.payload_defaults is
  'Merged under the payload given at enqueue (objects deep-merged, anything else replaced), then validated by the task''s payload schema.';
create index job_templates_org_idx on jobdeck.job_templates (org_id);

alter table jobdeck.job_templates enable row level security;
grant select on jobdeck.job_templates to jobdeck_system;
grant select (name, type, payload_defaults, priority, queue, max_attempts, notify_on, description, org_id,
              created_at, updated_at)
  on jobdeck.job_templates to jobdeck_anonymous, jobdeck_user, jobdeck_admin;
-- API callers see the global templates and their organisation's, when they may enqueue at all.
create policy job_templates_select on jobdeck.job_templates for select to jobdeck_user, jobdeck_admin
  using ((org_id is null or org_id = jobdeck.current_org_id()) and jobdeck.current_user_can('jobs.create_jobs'));
create policy job_templates_select_system on jobdeck.job_templates for select to jobdeck_system using (true);
