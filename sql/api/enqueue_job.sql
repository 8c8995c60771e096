-- jobdeck.enqueue_job(type, payload, …): enqueue as the signed-in user (GraphQL's mutation).
-- requires: api/current_org_id.sql api/current_user_id.sql auth/authorize_job.sql enqueue/api_enqueue_key.sql enqueue/enqueue.sql
--
-- Owner and organisation come from the token, never from the arguments. Keys deduplicate within
-- the user's own jobs only (they are stored with a per-user prefix), so one user's key never
-- finds another user's job. Executable by the API's request roles (grants at the end), not by
-- PUBLIC.
--
-- plan_cache_mode: its statements are planned once per connection (migration 000007,
-- docs/performance.md); no plan depends on a parameter's value.

-- depends_on and on_dependency_failure were added by issue 21 (dependencies): the old signature goes.
drop function if exists jobdeck.enqueue_job(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text);

create or replace function jobdeck.enqueue_job(
  type text,
  payload jsonb default '{}',
  priority integer default 0,
  run_at timestamptz default null,
  max_attempts integer default null,
  key text default null,
  depends_on uuid[] default null,
  on_dependency_failure text default null
) returns jobdeck.jobs
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_owner text := jobdeck.current_user_id();
  v_org   text := jobdeck.current_org_id();
  v_job   jobdeck.jobs;
begin
  perform jobdeck_private.authorize_job(null, 'jobs.create_jobs');
  if v_owner is null or v_org is null then
    raise exception 'enqueue_job needs a signed-in user: the token must carry sub and org' using errcode = '42501';
  end if;
  v_job := jobdeck_private.enqueue(
    type, coalesce(payload, '{}'::jsonb), coalesce(priority, 0), run_at, max_attempts,
    jobdeck_private.api_enqueue_key(type, priority, max_attempts, key,
      format('job type "%s" cannot be enqueued through the API', type)),
    null, v_owner, v_org, null, null, '{}'::jsonb, 'keep', depends_on, on_dependency_failure);
  if v_job.owner_id is distinct from v_owner or v_job.org_id is distinct from v_org then
    raise exception 'key "%" is taken by a job that is not yours', key using errcode = 'JD004';
  end if;
  return v_job;
end;
$$;
comment on function jobdeck.enqueue_job is
  E'@resultFieldName job\nEnqueue a job as the signed-in user (owner and organisation from the token). Errors: JD001 unknown type, JD002 invalid payload, JD003 payload too large, JD004 bad option, 42501 not allowed.';
revoke all on function jobdeck.enqueue_job(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, depends_on uuid[], on_dependency_failure text) from public;
grant execute on function jobdeck.enqueue_job(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, depends_on uuid[], on_dependency_failure text) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
