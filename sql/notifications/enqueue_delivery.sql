-- jobdeck_private.enqueue_delivery(type, job_id, payload): enqueues one delivery of a finished job.
-- requires: enqueue/enqueue.sql
--
-- What the finish trigger (notifications/tg_jobs__deliveries.sql) does for each delivery: a
-- delivery (`deliver_webhook`, `deliver_email`) is a tracked job of its own, related to
-- the job it reports on, with its own retries and backoff. Deliveries belong to no user or
-- organisation: the target is the application's, so API users neither see nor cancel them. A
-- finish never fails because of a delivery: one that cannot be enqueued is skipped with a warning
-- in the server log.

create or replace function jobdeck_private.enqueue_delivery(type text, job_id uuid, payload jsonb)
returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  perform jobdeck_private.enqueue(
    type, payload, 0, null, null, null, null, null, null, 'job', job_id::text, '{}'::jsonb, 'keep');
exception when others then
  raise warning 'jobdeck: % for job % not enqueued: %', type, job_id, sqlerrm;
end;
$$;
revoke all on function jobdeck_private.enqueue_delivery(type text, job_id uuid, payload jsonb) from public;
