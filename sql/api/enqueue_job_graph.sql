-- jobdeck.enqueue_job_graph(jobs): a graph of dependent jobs, enqueued as the signed-in user.
-- requires: enqueue/enqueue_graph_as.sql
--
-- GraphQL's enqueueJobGraph and REST's POST /api/v2/job-graphs. As enqueue_job, for each job:
-- owner and organisation from the token, keys within the user's own jobs, dependencies only on
-- jobs the caller may see. Each spec takes `ref`, `type`, `payload`, `priority`, `runAt`,
-- `maxAttempts`, `key`, `dependsOn` (refs of this call or job ids) and `onDependencyFailure`;
-- any other field is refused, naming it. All or none; cycles refused; every error names the
-- job's ref (jobdeck_private.enqueue_graph_as). Executable by the API's request roles.

create or replace function jobdeck.enqueue_job_graph(jobs jsonb) returns table (ref text, id uuid)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return query select g.ref, g.id from jobdeck_private.enqueue_graph_as(jobs, true) g;
end;
$$;
comment on function jobdeck.enqueue_job_graph(jsonb) is
  E'Enqueue, as the signed-in user, jobs that depend on each other: a JSON array of {ref, type, payload, priority, runAt, maxAttempts, key, dependsOn (refs or job ids), onDependencyFailure}. All or none; cycles refused. Returns each ref with its job id. Errors as enqueueJob, prefixed with the ref.';
revoke all on function jobdeck.enqueue_job_graph(jobs jsonb) from public;
grant execute on function jobdeck.enqueue_job_graph(jobs jsonb) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
