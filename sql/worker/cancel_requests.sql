-- jobdeck_private.cancel_requests(ids): which of these jobs the database says to stop, and why.
--
-- A cancel NOTIFY is a hint, never an authority (issue 18): a worker that hears one for a job it
-- runs asks here before it aborts the job's signal. The answer is the row's: cancelled (a waiting
-- job cancelled while a worker ran it unmarked, the fast path of migration 000005), or running
-- with a cancel request (sql/control/cancel_job.sql). The heartbeat asks the same of running
-- rows (worker/heartbeat.sql), for requests whose notification was missed.
--
-- plan_cache_mode: its statements are planned once per connection (migration 000007,
-- docs/performance.md); no plan depends on a parameter's value.

create or replace function jobdeck_private.cancel_requests(ids uuid[])
returns table (id uuid, cancel_reason text)
language sql stable
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
  select j.id, j.cancel_reason
    from jobdeck.jobs j
   where j.id = any(ids)
     and (j.status = 'cancelled' or (j.status = 'running' and j.cancel_requested_at is not null))
$$;

comment on function jobdeck_private.cancel_requests(uuid[]) is
  'The jobs among ids that must stop for a cancel (cancelled, or running with a cancel request), with the reason.';
revoke all on function jobdeck_private.cancel_requests(ids uuid[]) from public;
