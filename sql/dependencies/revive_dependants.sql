-- jobdeck_private.revive_dependants(job_ids): puts back the dependants a failure had cancelled, when the failed job is retried.
-- requires: dependencies/settle_waiting.sql
--
-- A failed or cancelled job that is retried by hand (retry_job) gets its chance again, and so do
-- the jobs that were cancelled only because it failed: every job cancelled by settle_waiting
-- (cancel_reason `dependency …`, cancel_requested_at null: nobody asked) that depends on one of
-- these jobs, transitively, goes back to `waiting`. Then each is settled again: one that also
-- depends on another failed job is cancelled again (and its dependants with it), so no job waits
-- for a dependency that will never succeed. Dependants that already ran (policy `run`) are left
-- alone. Returns how many jobs went back to waiting.

create or replace function jobdeck_private.revive_dependants(job_ids uuid[]) returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_ids uuid[];
begin
  if coalesce(pg_catalog.cardinality(job_ids), 0) = 0 then
    return 0;
  end if;
  with recursive c(id) as (
    select j.id from jobdeck.jobs j
     where j.depends_on && job_ids and j.depends_on is not null and j.status = 'cancelled'
       and j.cancel_requested_at is null and j.cancel_reason like 'dependency %'
    union
    select j.id
      from c join jobdeck.jobs j on j.depends_on && array[c.id]
     where j.depends_on is not null and j.status = 'cancelled'
       and j.cancel_requested_at is null and j.cancel_reason like 'dependency %'
  ), revived as (
    update jobdeck.jobs j
       set status = 'waiting', finished_at = null, cancel_reason = null, updated_at = pg_catalog.now(),
           purge_on = 'infinity'  -- back to jobs_live, wherever it was (migration 000024)
      from (select c.id from c order by c.id) c
     where j.id = c.id and j.status = 'cancelled'
    returning j.id
  )
  select array_agg(r.id) into v_ids from revived r;
  perform jobdeck_private.settle_waiting(v_ids);
  return coalesce(pg_catalog.cardinality(v_ids), 0);
end;
$$;
comment on function jobdeck_private.revive_dependants(uuid[]) is
  'Put the dependants a failure cancelled back to waiting (transitively) when the failed job is retried.';
revoke all on function jobdeck_private.revive_dependants(job_ids uuid[]) from public;
