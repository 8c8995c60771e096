-- jobdeck_private.limit_keys(job_ids): the concurrency limits (type, queue, per key) these jobs fall under.
--
-- Keys as `type:<task type>` and `queue:<queue>`, one per limit row that names a job's type or
-- queue, and `key:<task type>:<key>` for a type with a per-key limit (admit_keyed), sorted (the
-- order lock_limits takes them in). With no limit configured anywhere (the common case) no job
-- needs looking at: null at once, as capped_orgs does for the organisation cap.

create or replace function jobdeck_private.limit_keys(job_ids uuid[]) returns text[]
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if not exists (select 1 from jobdeck_private.concurrency_limits)
     and not exists (select 1 from jobdeck_private.task_types t where t.key_concurrency is not null) then
    return null;
  end if;
  return (select array_agg(distinct k.k order by k.k)
            from (select l.scope || ':' || l.key as k
                    from jobdeck.jobs j
                    join jobdeck_private.concurrency_limits l
                      on (l.scope = 'type' and l.key = j.type) or (l.scope = 'queue' and l.key = j.queue)
                   where j.id = any(job_ids)
                  union all
                  select 'key:' || j.type || ':' || coalesce(j.concurrency_key, '')
                    from jobdeck.jobs j
                    join jobdeck_private.task_types t on t.type = j.type and t.key_concurrency is not null
                   where j.id = any(job_ids)) k);
end;
$$;
revoke all on function jobdeck_private.limit_keys(job_ids uuid[]) from public;
