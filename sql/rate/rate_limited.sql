-- jobdeck_private.rate_limited(job_ids): whether any of these jobs falls under a rate limit.
--
-- start_jobs' test for its slow path. With no rate limit configured anywhere (the common case)
-- no job needs looking at: false at once.

create or replace function jobdeck_private.rate_limited(job_ids uuid[]) returns boolean
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if not exists (select 1 from jobdeck_private.rate_limits) then
    return false;
  end if;
  return exists (select 1 from jobdeck.jobs j
                   join jobdeck_private.rate_limits l
                     on (l.scope = 'type' and l.name = j.type) or (l.scope = 'queue' and l.name = j.queue)
                  where j.id = any(job_ids));
end;
$$;
revoke all on function jobdeck_private.rate_limited(job_ids uuid[]) from public;
