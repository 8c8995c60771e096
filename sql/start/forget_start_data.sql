-- jobdeck_private.forget_start_data(gw_job_ids): takes the start data out of these Graphile jobs,
-- so that the worker reads their rows before it starts them; returns how many it changed.
--
-- Start data (graphile_payload.sql) is the row's values at enqueue. Whatever changes a waiting
-- job's row afterwards calls this in the same transaction: a webhook or e-mail set after the
-- insert, a batch id. (A cancel takes the Graphile job away, or hints the worker that fetched it:
-- control/cancel_job.sql; a keyed job never carries start data.) A job already fetched by a worker
-- keeps the payload that worker holds, which is why only changes made in the enqueue's own
-- transaction, before any worker can see the job, rely on this alone. The rescue and the release
-- of a dead pool's jobs (worker/rescue_workers.sql, worker/release_pools.sql) call it too: they
-- unlock jobs whose attempt may have run and even finished, and reset Graphile Worker's attempt
-- count, so the next fetch would otherwise look like a first one.

create or replace function jobdeck_private.forget_start_data(gw_job_ids bigint[]) returns integer
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  with g as (
    update graphile_worker._private_jobs g
       set payload = pg_catalog.json_build_object('jobdeckId', g.payload ->> 'jobdeckId')
     where g.id = any(gw_job_ids)
       and pg_catalog.json_typeof(g.payload) = 'object' and (g.payload -> 'start') is not null
    returning 1
  )
  select pg_catalog.count(*)::integer from g
$$;
revoke all on function jobdeck_private.forget_start_data(gw_job_ids bigint[]) from public;
