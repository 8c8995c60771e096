-- jobdeck_private.admit_keyed(job_ids, count_waiting): which of these jobs the per-key concurrency limits let run.
--
-- A task type's `concurrency: { limit, key }` (task_types.key_concurrency, concurrency_key_spec):
-- at most `limit` of its jobs with one key (jobs.concurrency_key, computed at enqueue) run at once,
-- across all workers. The organisation cap generalised to any key; checked after admit_jobs, on
-- the jobs it let through, by start_jobs and release_held, which hold the keys' advisory locks
-- (limit_keys gives them as `key:<type>:<key>`). A slot is taken as in admit_jobs: a running job
-- not among `job_ids`, and with `count_waiting` a waiting job whose Graphile job is due. Jobs of a
-- type without such a limit are admitted at once.

create or replace function jobdeck_private.admit_keyed(job_ids uuid[], count_waiting boolean)
returns table (id uuid, admitted boolean, reason text)
language plpgsql stable
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
begin
  return query
  with cand as (
    select j.id, j.type, j.concurrency_key, t.key_concurrency,
           row_number() over (partition by j.type, j.concurrency_key
                              order by j.priority, j.run_at, j.created_at, j.id) as rn
      from jobdeck.jobs j
      left join jobdeck_private.task_types t on t.type = j.type
     where j.id = any(job_ids)
  )
  select c.id, ok.v,
         case when not ok.v then
           format('held: task type "%s" is at its concurrency limit for key "%s" (%s)',
                  c.type, coalesce(c.concurrency_key, ''), c.key_concurrency)
         end
    from cand c
   cross join lateral (
     select c.key_concurrency is null
            or (select count(*) from jobdeck.jobs x
                 where x.type = c.type and x.concurrency_key is not distinct from c.concurrency_key
                   and x.id <> all(job_ids)
                   and (x.status = 'running'
                        or (count_waiting and x.status in ('queued', 'retrying') and x.held_at is null
                            and x.gw_job_id is not null and x.run_at <= now()))) + c.rn <= c.key_concurrency as v
   ) ok;
end;
$$;
revoke all on function jobdeck_private.admit_keyed(job_ids uuid[], count_waiting boolean) from public;
