-- jobdeck_private.release_pools(pool_ids): unlocks the jobs of Graphile Worker pools that shut down.
-- requires: start/forget_start_data.sql
--
-- A worker whose Graphile Worker pool shut down (a major database error) starts a new pool; the
-- jobs the old one had locked are released first, their Graphile attempt not counted (jobdeck
-- counts its own, as in rescue_workers).

create or replace function jobdeck_private.release_pools(pool_ids text[]) returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_gw bigint[];
begin
  select array_agg(g.id) into v_gw from graphile_worker.jobs g where g.locked_by = any(pool_ids);
  perform graphile_worker.force_unlock_workers(pool_ids);
  if v_gw is not null then
    perform graphile_worker.reschedule_jobs(v_gw, attempts => 0);
    -- Fetched again as first fetches, they must not start from start data: the pool may have run
    -- an attempt whose finish committed before Graphile Worker could complete its job.
    perform jobdeck_private.forget_start_data(v_gw);
  end if;
  return coalesce(cardinality(v_gw), 0);
end;
$$;
revoke all on function jobdeck_private.release_pools(pool_ids text[]) from public;
