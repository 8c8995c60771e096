-- jobdeck.enqueue_from_template(name, payload, …): enqueue from a job template as the signed-in user.
-- requires: api/current_org_id.sql api/current_user_id.sql auth/authorize_job.sql enqueue/api_enqueue_key.sql
-- requires: templates/enqueue_from_template.sql
--
-- GraphQL's `enqueueFromTemplate`, REST's POST /api/v2/templates/:name/jobs. As enqueue_job:
-- owner and organisation from the token, the `jobs.create_jobs` permission, task types with
-- api_enqueue only, keys per user, the caller's priority and max_attempts in the API's ranges.
-- The template's own values were set by a trusted caller and apply as they are. A template of
-- another organisation is "not found", exactly as one that does not exist (JD010).
--
-- plan_cache_mode: as jobdeck.enqueue_job (migration 000007).

create or replace function jobdeck.enqueue_from_template(
  name text,
  payload jsonb default '{}',
  priority integer default null,
  max_attempts integer default null,
  key text default null
) returns jobdeck.jobs
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_owner    text := jobdeck.current_user_id();
  v_org      text := jobdeck.current_org_id();
  v_template jobdeck.job_templates;
  v_job      jobdeck.jobs;
begin
  perform jobdeck_private.authorize_job(null, 'jobs.create_jobs');
  if v_owner is null or v_org is null then
    raise exception 'enqueue_from_template needs a signed-in user: the token must carry sub and org' using errcode = '42501';
  end if;
  select * into v_template from jobdeck.job_templates t
   where t.name = enqueue_from_template.name and (t.org_id is null or t.org_id = v_org);
  if not found then
    raise exception 'job template "%" not found', left(coalesce(name, 'null'), 200) using errcode = 'JD010';
  end if;
  v_job := jobdeck_private.enqueue_from_template(
    v_template, coalesce(payload, '{}'::jsonb), priority, null, max_attempts,
    jobdeck_private.api_enqueue_key(v_template.type, priority, max_attempts, key,
      format('job type "%s" of template "%s" cannot be enqueued through the API', v_template.type, name)),
    null, v_owner, v_org, null, null, '{}'::jsonb, 'keep', null, null, null);
  if v_job.owner_id is distinct from v_owner or v_job.org_id is distinct from v_org then
    raise exception 'key "%" is taken by a job that is not yours', key using errcode = 'JD004';
  end if;
  return v_job;
end;
$$;
comment on function jobdeck.enqueue_from_template is
  E'@resultFieldName job\nEnqueue a job from a job template as the signed-in user (owner and organisation from the token). Errors: JD001 unknown type, JD002 invalid payload, JD003 payload too large, JD004 bad option, JD010 unknown template, 42501 not allowed.';
revoke all on function jobdeck.enqueue_from_template(name text, payload jsonb, priority integer, max_attempts integer, key text) from public;
grant execute on function jobdeck.enqueue_from_template(name text, payload jsonb, priority integer, max_attempts integer, key text) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
