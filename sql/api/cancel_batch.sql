-- jobdeck.cancel_batch(id, reason): cancel every unfinished job of a batch, for any caller.
-- requires: auth/authorize_job.sql auth/caller_scope.sql batches/cancel_batch.sql
-- requires: api/current_org_id.sql api/current_user_id.sql
--
-- Checks the caller first: trusted callers pass; an API user needs jobs.cancel_jobs and must see
-- the batch (their own, or their organisation's for an admin); any other batch is "not found".

create or replace function jobdeck.cancel_batch(id uuid, reason text default null) returns jobdeck.batches
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_scope text;
begin
  if cancel_batch.id is null then
    raise exception 'batch id is required' using errcode = 'JD004';
  end if;
  perform jobdeck_private.authorize_job(null, 'jobs.cancel_jobs');
  v_scope := jobdeck_private.caller_scope();
  if v_scope <> 'all' and not exists (
    select 1 from jobdeck.batches b
     where b.id = cancel_batch.id and b.org_id = jobdeck.current_org_id()
       and (v_scope = 'org' or b.owner_id = jobdeck.current_user_id())) then
    raise exception 'batch % not found', cancel_batch.id using errcode = 'JD010';
  end if;
  return jobdeck_private.cancel_batch(cancel_batch.id, reason);
end;
$$;
comment on function jobdeck.cancel_batch(uuid, text) is
  E'@resultFieldName batch\nCancel every unfinished job of a batch (running ones through their worker). Errors: JD010 not found, 42501 not allowed.';
revoke all on function jobdeck.cancel_batch(id uuid, reason text) from public;
grant execute on function jobdeck.cancel_batch(id uuid, reason text) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
