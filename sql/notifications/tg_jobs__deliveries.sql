-- jobdeck_private.tg_jobs__deliveries() and its trigger: enqueues a job's deliveries when it finishes.
-- requires: notifications/enqueue_delivery.sql
--
-- When a job succeeds or fails: a `deliver_webhook` job when it has a webhook URL (its own, given
-- at enqueue, or its task type's), and a `deliver_email` job when it has an e-mail notification
-- (its own or its task type's `notify`) that lists the outcome. Each is a tracked job of its own,
-- enqueued in the transaction that finishes the job (notifications/enqueue_delivery.sql says
-- whose it is and why a finish never fails for it). Webhook URL and recipients travel in the
-- delivery's payload as they were when the job finished. A delivery's own outcome is never
-- delivered (it would report on itself without end). Migration 000011 replaced
-- tg_jobs__webhooks with this function.

create or replace function jobdeck_private.tg_jobs__deliveries() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
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
$$;

drop trigger if exists _600_deliveries on jobdeck.jobs;
create trigger _600_deliveries after update on jobdeck.jobs
  referencing old table as old_rows new table as new_rows
  for each statement execute function jobdeck_private.tg_jobs__deliveries();
revoke all on function jobdeck_private.tg_jobs__deliveries() from public;
