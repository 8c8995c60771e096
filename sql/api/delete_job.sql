-- jobdeck.delete_job(id): remove a finished job with its log, attempts and steps, for any caller.
-- requires: auth/authorize_job.sql
--
-- An API caller needs jobs.cancel_jobs and the job must be one they may act on (their own, or
-- their organisation's for an admin), exactly as for cancelling; a job they may not see is "not
-- found". Only succeeded, failed and cancelled jobs go: an unfinished one is cancelled first, so
-- its worker and Graphile Worker's row are never left behind. Its events go with it
-- (events/tg_jobs__after_delete.sql), its steps by their foreign key.

create or replace function jobdeck.delete_job(id uuid) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_status text;
begin
  if delete_job.id is null then
    raise exception 'job id is required' using errcode = 'JD004';
  end if;
  perform jobdeck_private.authorize_job(delete_job.id, 'jobs.cancel_jobs');
  select j.status into v_status from jobdeck.jobs j where j.id = delete_job.id for update;
  if not found then
    raise exception 'job % not found', delete_job.id using errcode = 'JD010';
  end if;
  if v_status not in ('succeeded', 'failed', 'cancelled') then
    raise exception 'job % is %: only a finished job can be deleted (cancel it first)', delete_job.id, v_status
      using errcode = 'JD011', detail = json_build_object('status', v_status)::text;
  end if;
  delete from jobdeck.jobs j where j.id = delete_job.id;
  return delete_job.id;
end;
$$;
comment on function jobdeck.delete_job(uuid) is
  E'@resultFieldName deletedJobId\nDelete a finished (succeeded, failed or cancelled) job with its log. Errors: JD010 not found, JD011 not finished, 42501 not allowed.';
revoke all on function jobdeck.delete_job(id uuid) from public;
grant execute on function jobdeck.delete_job(id uuid) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
