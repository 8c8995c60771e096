-- jobdeck_private.reset_rate_limit(scope, name): after a rate limit changed, lets its waiting jobs try again now.
--
-- The limit's buckets are dropped (their times were computed with the old rate), and the jobs a
-- rate limit put back get their Graphile job moved to now: start_jobs decides again under the new
-- limit (or none), instead of their waiting out a time computed under the old one.

create or replace function jobdeck_private.reset_rate_limit(scope text, name text) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  delete from jobdeck_private.rate_buckets b where b.scope = reset_rate_limit.scope and b.name = reset_rate_limit.name;
  perform graphile_worker.reschedule_jobs(array(
    select j.gw_job_id from jobdeck.jobs j
     where j.status in ('queued', 'retrying') and j.held_at is null and j.gw_job_id is not null
       and j.held_reason like 'rate limited:%' and j.run_at > now()
       and ((reset_rate_limit.scope = 'type' and j.type = reset_rate_limit.name)
            or (reset_rate_limit.scope = 'queue' and j.queue = reset_rate_limit.name))), run_at => now());
end;
$$;
revoke all on function jobdeck_private.reset_rate_limit(scope text, name text) from public;
