-- jobdeck 000011: e-mail notifications when a job succeeds or fails (issue 19, item 4; seed 003).
--
-- Who is told, and of which outcomes: `{"to": ["ops@example.com"], "on": ["succeeded", "failed"]}`,
-- per job (given at enqueue by trusted callers) or per task type (its `notify` option). The
-- addresses are the application's, not the job owner's: the API never shows them (the column is
-- hidden from GraphQL, REST leaves it out). Each message is a tracked `deliver_email` job enqueued
-- when the job finishes (sql/notifications/tg_jobs__deliveries.sql).
--
-- Renumber at merge if another branch took 000011 first: the runner wants numbers without gaps.

alter table jobdeck.jobs add column notify_email jsonb
  constraint notify_email_is_object check (jsonb_typeof(notify_email) = 'object');
comment on column jobdeck.jobs.notify_email is
  'E-mail notification: {"to": [addresses], "on": ["succeeded", "failed"]}; hidden from the API.';
alter table jobdeck_private.task_types add column notify_email jsonb
  constraint notify_email_is_object check (jsonb_typeof(notify_email) = 'object');
comment on column jobdeck_private.task_types.notify_email is
  'The task type''s e-mail notification (its notify option), used when a job has none of its own.';

-- One trigger now enqueues both kinds of delivery (sql/notifications/tg_jobs__deliveries.sql,
-- applied after this migration): the webhook-only one goes.
drop trigger if exists _600_webhooks on jobdeck.jobs;
drop function if exists jobdeck_private.tg_jobs__webhooks();
