-- jobdeck_private.add_checked_job(…): the keyed insert of migration 000002. Unused.
-- requires: enqueue/insert_job.sql
--
-- Nothing calls it since migration 000003 (keys keep or replace through add_keyed_job); it stays
-- until a numbered migration drops it (docs/sql.md, "Removing a function").
--
-- Adds a checked job. With `key`, an unfinished job with the same key is returned instead of
-- adding a second one; a concurrent insert of the same key waits on the unique index, then lands in
-- the handler and returns the winner's job. Only keyed calls pay for the subtransaction.

create or replace function jobdeck_private.add_checked_job(
  type text, payload jsonb, priority integer, run_at timestamptz, max_attempts integer, key text,
  queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb
) returns jobdeck.jobs
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_job jobdeck.jobs;
begin
  if key is null then
    return jobdeck_private.insert_job(type, payload, priority, run_at, max_attempts, null, queue, owner_id,
                                      org_id, related_type, related_id, metadata);
  end if;
  select * into v_job from jobdeck.jobs j
   where j.key = add_checked_job.key and j.status in ('queued', 'running', 'retrying')
     and j.purge_on = 'infinity';  -- a literal: planned against jobs_live only (000024)
  if found then
    return v_job;
  end if;
  begin
    return jobdeck_private.insert_job(type, payload, priority, run_at, max_attempts, key, queue, owner_id,
                                      org_id, related_type, related_id, metadata);
  exception when unique_violation then
    select * into v_job from jobdeck.jobs j
     where j.key = add_checked_job.key and j.status in ('queued', 'running', 'retrying');
    return v_job;
  end;
end;
$$;
revoke all on function jobdeck_private.add_checked_job(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb) from public;
