-- jobdeck_private.start_data_allowed(type, queue, org_id): whether a new job with these may carry
-- its start data (start/graphile_payload.sql): no flow rule looks at its start now (no
-- concurrency cap per organisation, type, queue or key, no rate limit, no pause: begin_jobs' per-
-- row test, worker/begin_jobs.sql, asked at enqueue), and every worker on the database reads
-- start data. A worker from before start data (registered by its heartbeat without
-- `reads_start_data`, migration 000025) would take `{"jobdeckId", "start"}` for a job added
-- straight to Graphile Worker: while one is registered, no job gets start data, so a rolling
-- upgrade (migrate, then the workers one by one) loses nothing.
--
-- PL/pgSQL with generic plans, not `language sql`: a SQL function with sub-selects is never
-- inlined, and PostgreSQL then plans its body at every call (measured: 230 µs per enqueue);
-- here the statement is planned once per connection.
-- requires: concurrency/org_cap.sql

create or replace function jobdeck_private.start_data_allowed(type text, queue text, org_id text) returns boolean
language plpgsql stable
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
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
$$;
revoke all on function jobdeck_private.start_data_allowed(type text, queue text, org_id text) from public;
