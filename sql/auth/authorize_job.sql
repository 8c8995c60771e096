-- jobdeck_private.authorize_job(job_id, permission): raises unless the caller may act on the job.
-- requires: api/current_org_id.sql api/current_user_can.sql api/current_user_id.sql auth/caller_scope.sql
--
-- `permission` for API callers, and the job must be theirs (or their organisation's, for an
-- admin). A job they may not see is "not found", exactly as a job that does not exist, so ids
-- leak nothing.

create or replace function jobdeck_private.authorize_job(job_id uuid, permission text) returns void
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_scope text := jobdeck_private.caller_scope();
begin
  if v_scope = 'all' then
    return;
  elsif v_scope = 'none' and session_user = 'jobdeck_api' then
    raise exception 'sign in first: this needs a bearer token' using errcode = '42501';
  elsif v_scope = 'none' then
    raise exception 'permission denied: role % may not act on jobdeck jobs (grant it jobdeck_system to make it trusted; docs/security.md)',
      coalesce(nullif(pg_catalog.current_setting('role', true), 'none'), session_user) using errcode = '42501';
  elsif not jobdeck.current_user_can(permission) then
    raise exception 'permission denied: your token lacks %', permission using errcode = '42501';
  end if;
  if job_id is not null and not exists (
    select 1 from jobdeck.jobs j
     where j.id = authorize_job.job_id
       and j.org_id = jobdeck.current_org_id()
       and (v_scope = 'org' or j.owner_id = jobdeck.current_user_id())
  ) then
    raise exception 'job % not found', job_id using errcode = 'JD010';
  end if;
end;
$$;
revoke all on function jobdeck_private.authorize_job(job_id uuid, permission text) from public;
