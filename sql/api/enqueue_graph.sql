-- jobdeck.enqueue_graph(jobs): enqueues a small graph of dependent jobs in one call, all or none.
-- requires: auth/deny_api_caller.sql enqueue/enqueue_graph_as.sql
--
-- For trusted callers (TypeScript's enqueueGraph, SQL), as enqueue: owner and organisation are
-- fields of each spec. `jobs`: a JSON array of job specs as enqueue_many takes them (type,
-- payload, priority, runAt, maxAttempts, queue, ownerId, orgId, relatedType, relatedId, metadata,
-- webhookUrl, notifyEmail, notifyOn, key, keyMode) plus `ref`, `dependsOn` and
-- `onDependencyFailure` (jobdeck_private.enqueue_graph_as says how the graph is enqueued). API
-- callers use jobdeck.enqueue_job_graph.

create or replace function jobdeck.enqueue_graph(jobs jsonb) returns table (ref text, id uuid)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform jobdeck_private.deny_api_caller('jobdeck.enqueue_graph()');
  return query select g.ref, g.id from jobdeck_private.enqueue_graph_as(jobs, false) g;
end;
$$;
comment on function jobdeck.enqueue_graph(jsonb) is
  'Enqueue jobs that depend on each other (refs) in one call, all or none; cycles are refused. Returns each ref with its job id. Errors as enqueue, prefixed with the ref.';
revoke all on function jobdeck.enqueue_graph(jobs jsonb) from public;
grant execute on function jobdeck.enqueue_graph(jobs jsonb) to jobdeck_system;
