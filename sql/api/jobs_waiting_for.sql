-- jobdeck.jobs_waiting_for(job): the dependencies a waiting job still waits for; GraphQL's Job.waitingFor.
--
-- The ids of `depends_on` that have not succeeded yet, while the job is `waiting`; empty
-- otherwise. SECURITY DEFINER to read the dependencies' statuses: the caller could see every one
-- of them when it enqueued the job (sql/dependencies/check_dependencies.sql), and only ids come
-- back, never the rows.

create or replace function jobdeck.jobs_waiting_for(job jobdeck.jobs) returns uuid[]
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select case when job.status = 'waiting' then
    coalesce((select pg_catalog.array_agg(d.id order by d.id)
                from pg_catalog.unnest(job.depends_on) d(id)
                join jobdeck.jobs p on p.id = d.id
               where p.status <> 'succeeded'), '{}')
  else '{}' end
$$;
comment on function jobdeck.jobs_waiting_for(jobdeck.jobs) is
  'The jobs this waiting job still waits for (its dependencies that have not succeeded yet).';
revoke all on function jobdeck.jobs_waiting_for(job jobdeck.jobs) from public;
grant execute on function jobdeck.jobs_waiting_for(job jobdeck.jobs) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
