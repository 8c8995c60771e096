-- Plans made once per connection for the functions on the job path.
--
-- PL/pgSQL prepares each statement of a function and, while a parameter is involved, plans it
-- again on every call for the first calls and whenever a generic plan looks costlier than the
-- custom ones so far. For our statements it always did: a set-returning input (jsonb_to_recordset)
-- or an array parameter makes every estimate a guess, and the guesses favour the custom plan.
-- Measured on the 2-core machine (pg_stat_statements, one job per call, PostgreSQL 18):
--   finish_jobs     0.78 ms -> 0.14 ms
--   begin_jobs      0.45 ms -> 0.10 ms
--   jobdeck.enqueue 0.86 ms -> 0.49 ms (Graphile Worker's add_jobs inside it: 0.50 -> 0.15)
-- Almost all of that was planning: the statements join jobs, whose twelve indexes (several of them
-- partial) the planner weighs each time.
--
-- The generic plans are the ones the custom plans already were: every statement here finds its
-- rows by primary key, by ids passed in, or by a status written as a literal (never a parameter),
-- so no plan depends on a parameter's value. The setting applies inside the function and the
-- functions it calls (Graphile Worker's add_jobs among them), and is restored on return.

-- Enqueue, from TypeScript, SQL and GraphQL.
alter function jobdeck.enqueue(text, jsonb, integer, timestamptz, integer, text, text, text, text, text, text,
                               jsonb, text, text)
  set plan_cache_mode = force_generic_plan;
alter function jobdeck.enqueue_many(jsonb) set plan_cache_mode = force_generic_plan;
alter function jobdeck.enqueue_job(text, jsonb, integer, timestamptz, integer, text)
  set plan_cache_mode = force_generic_plan;
alter function jobdeck_private.enqueue(text, jsonb, integer, timestamptz, integer, text, text, text, text, text,
                                       text, jsonb, text)
  set plan_cache_mode = force_generic_plan;
alter function jobdeck_private.enqueue_many(jsonb) set plan_cache_mode = force_generic_plan;

-- The worker's write path.
alter function jobdeck_private.begin_jobs(jsonb, text) set plan_cache_mode = force_generic_plan;
alter function jobdeck_private.start_jobs(jsonb, text) set plan_cache_mode = force_generic_plan;
alter function jobdeck_private.mark_running(jsonb, text) set plan_cache_mode = force_generic_plan;
alter function jobdeck_private.finish_jobs(jsonb, text) set plan_cache_mode = force_generic_plan;
alter function jobdeck_private.heartbeat(text, jsonb, uuid[], jsonb) set plan_cache_mode = force_generic_plan;
alter function jobdeck_private.requeue_orphans(jsonb) set plan_cache_mode = force_generic_plan;

-- Control, by id.
alter function jobdeck.cancel_job(uuid, text) set plan_cache_mode = force_generic_plan;
alter function jobdeck.retry_job(uuid) set plan_cache_mode = force_generic_plan;
alter function jobdeck_private.cancel_job(uuid, text) set plan_cache_mode = force_generic_plan;
alter function jobdeck_private.retry_job(uuid) set plan_cache_mode = force_generic_plan;
