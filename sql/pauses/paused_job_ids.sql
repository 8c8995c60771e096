-- jobdeck_private.paused_job_ids(job_ids): those of these jobs that a pause keeps from starting.
-- requires: pauses/pause_reason.sql
--
-- With no pause anywhere (the common case) no job needs looking at: null at once, as capped_orgs
-- and limit_keys do, so start_jobs keeps its fast path.

create or replace function jobdeck_private.paused_job_ids(job_ids uuid[]) returns uuid[]
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if not exists (select 1 from jobdeck_private.pauses) then
    return null;
  end if;
  return (select array_agg(j.id order by j.id)
            from jobdeck.jobs j
           where j.id = any(job_ids) and jobdeck_private.pause_reason(j.type, j.queue) is not null);
end;
$$;
revoke all on function jobdeck_private.paused_job_ids(job_ids uuid[]) from public;
