-- jobdeck_private.limit_keys(job_ids): the concurrency limits (type and queue) these jobs fall under.
--
-- Keys as `type:<task type>` and `queue:<queue>`, one per limit row that names a job's type or
-- queue, sorted (the order lock_limits takes them in). With no limit configured anywhere (the
-- common case) no job needs looking at: null at once, as capped_orgs does for the organisation cap.

create or replace function jobdeck_private.limit_keys(job_ids uuid[]) returns text[]
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if not exists (select 1 from jobdeck_private.concurrency_limits) then
    return null;
  end if;
  return (select array_agg(distinct l.scope || ':' || l.key order by l.scope || ':' || l.key)
            from jobdeck.jobs j
            join jobdeck_private.concurrency_limits l
              on (l.scope = 'type' and l.key = j.type) or (l.scope = 'queue' and l.key = j.queue)
           where j.id = any(job_ids));
end;
$$;
revoke all on function jobdeck_private.limit_keys(job_ids uuid[]) from public;
