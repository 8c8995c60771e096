-- jobdeck_private.reset_rate_limit(scope, name): after a rate limit changed, lets its waiting jobs try again now.
--
-- The limit's buckets are dropped (their times were computed with the old rate), and the jobs a
-- rate limit put back get their Graphile job moved to now and lose their reserved slot (run_at
-- now, held_reason cleared; sql/rate/admit_rated.sql): start_jobs decides again under the new
-- limit (or none), instead of their waiting out a time computed under the old one.

create or replace function jobdeck_private.reset_rate_limit(scope text, name text) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_gw_ids bigint[];
begin
  delete from jobdeck_private.rate_buckets b where b.scope = reset_rate_limit.scope and b.name = reset_rate_limit.name;
  with waiting as (
    update jobdeck.jobs j set run_at = now(), held_reason = null, updated_at = now()
     where j.status in ('queued', 'retrying') and j.held_at is null and j.gw_job_id is not null
       and j.held_reason like 'rate limited:%'
       and ((reset_rate_limit.scope = 'type' and j.type = reset_rate_limit.name)
            or (reset_rate_limit.scope = 'queue' and j.queue = reset_rate_limit.name))
    returning j.gw_job_id
  )
  select array_agg(w.gw_job_id) into v_gw_ids from waiting w;
  if v_gw_ids is not null then
    perform graphile_worker.reschedule_jobs(v_gw_ids, run_at => now());
  end if;
end;
$$;
revoke all on function jobdeck_private.reset_rate_limit(scope text, name text) from public;
