-- jobdeck.delete_job_template(name): removes a job template; true when there was one.
-- requires: auth/deny_api_caller.sql
--
-- Jobs made from it keep their `metadata.template`; they do not depend on the row.

create or replace function jobdeck.delete_job_template(name text) returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform jobdeck_private.deny_api_caller('jobdeck.delete_job_template()');
  delete from jobdeck.job_templates t where t.name = delete_job_template.name;
  return found;
end;
$$;
comment on function jobdeck.delete_job_template(text) is 'Remove a job template (trusted callers); true when it existed.';
revoke all on function jobdeck.delete_job_template(name text) from public;
grant execute on function jobdeck.delete_job_template(name text) to jobdeck_system;
