-- jobdeck_private.tg_jobs__webhooks() and its trigger: enqueues a deliver_webhook job per finish.
-- requires: enqueue/enqueue.sql
--
-- A URL per job (given at enqueue) or per task type, called when the job succeeds or fails. Each
-- call is itself a tracked `deliver_webhook` job, enqueued in the transaction that finishes the
-- job, with its own retries and backoff. Deliveries belong to no user or organisation: the URL
-- (and any secret in it) is the app's, so API users neither see nor cancel them; operators see
-- them in the CLI, the TypeScript client and /metrics. A finish never fails because of a
-- webhook: a delivery that cannot be enqueued is skipped with a warning in the server log.

create or replace function jobdeck_private.tg_jobs__webhooks() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  d record;
begin
  if not exists (select 1 from jobdeck_private.task_types where type = 'deliver_webhook') then
    return null;
  end if;
  for d in
    select n.id, n.status, coalesce(n.webhook_url, t.webhook_url) as url
      from new_rows n
      join old_rows o on o.id = n.id
      left join jobdeck_private.task_types t on t.type = n.type
     where n.status in ('succeeded', 'failed') and o.status is distinct from n.status
       and n.type <> 'deliver_webhook' and coalesce(n.webhook_url, t.webhook_url) is not null
  loop
    begin
      perform jobdeck_private.enqueue(
        'deliver_webhook', jsonb_build_object('jobId', d.id, 'url', d.url, 'event', 'job.' || d.status),
        0, null, null, null, null, null, null, 'job', d.id::text, '{}'::jsonb, 'keep');
    exception when others then
      raise warning 'jobdeck: webhook delivery for job % not enqueued: %', d.id, sqlerrm;
    end;
  end loop;
  return null;
end;
$$;

drop trigger if exists _600_webhooks on jobdeck.jobs;
create trigger _600_webhooks after update on jobdeck.jobs
  referencing old table as old_rows new table as new_rows
  for each statement execute function jobdeck_private.tg_jobs__webhooks();
revoke all on function jobdeck_private.tg_jobs__webhooks() from public;
