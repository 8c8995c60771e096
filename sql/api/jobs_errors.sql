-- jobdeck.jobs_errors(job): the job's failed attempts as the caller may see them; GraphQL's Job.errors.
-- requires: auth/caller_scope.sql
--
-- A stack trace names files, lines and sometimes data of the server's; it is for whoever operates
-- jobdeck, not for the job's owner (docs/security.md, "Stack traces"). Admins of the job's
-- organisation (jobdeck_admin) and trusted SQL callers (the owner, jobdeck_system: scope 'all')
-- get each entry as stored; everyone else gets it with `stack` null, the message and the rest
-- kept. The `errors` column itself is hidden from GraphQL (src/graphql/schema-plugins.ts), so
-- this is the only way errors reach it; jobs_attempt_history reads its errors here too. REST,
-- event streams and the websocket apply the same rule in TypeScript (src/http/job-view.ts).
--
-- SECURITY DEFINER only to call caller_scope(); it reads nothing but its argument, so it returns
-- nothing the caller did not already hold.

create or replace function jobdeck.jobs_errors(job jobdeck.jobs) returns jsonb
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select case
    when jobdeck_private.caller_scope() in ('org', 'all') then job.errors
    else coalesce(
      (select pg_catalog.jsonb_agg(
                case when pg_catalog.jsonb_typeof(e.value) = 'object'
                     then e.value || '{"stack": null}'::jsonb else e.value end
                order by e.ordinality)
         from pg_catalog.jsonb_array_elements(job.errors) with ordinality e),
      '[]'::jsonb)
  end
$$;
comment on function jobdeck.jobs_errors(jobdeck.jobs) is
  'One entry per failed attempt ({at, attempt, name, message, stack, permanent, …}); `stack` is null unless you are an admin of the job''s organisation.';
revoke all on function jobdeck.jobs_errors(job jobdeck.jobs) from public;
grant execute on function jobdeck.jobs_errors(job jobdeck.jobs) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
