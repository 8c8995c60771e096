-- jobdeck_private.enqueue_from_template(template, payload, …): enqueues one job from a template.
-- requires: enqueue/enqueue.sql notifications/set_email_notification.sql templates/merge_payload.sql
-- requires: webhooks/set_webhook.sql
--
-- What jobdeck.enqueue_template (trusted) and jobdeck.enqueue_from_template (API) end in, after
-- each has found the template its caller may use. The payload is the template's defaults merged
-- with the given one (merge_payload), then checked by the task's payload schema like any enqueue.
-- A non-null argument wins over the template's value; the job's metadata records the template's
-- name (`metadata.template`).

create or replace function jobdeck_private.enqueue_from_template(
  template jobdeck.job_templates,
  payload jsonb,
  priority integer,
  run_at timestamptz,
  max_attempts integer,
  key text,
  queue text,
  owner_id text,
  org_id text,
  related_type text,
  related_id text,
  metadata jsonb,
  key_mode text,
  webhook_url text,
  notify_email text[],
  notify_on text[]
) returns jobdeck.jobs
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
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
$$;
revoke all on function jobdeck_private.enqueue_from_template(template jobdeck.job_templates, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, key_mode text, webhook_url text, notify_email text[], notify_on text[]) from public;
