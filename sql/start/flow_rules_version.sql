-- jobdeck_private.flow_rules_version(): how many times a flow rule has appeared or changed.
--
-- A job that no flow rule covers when it is enqueued carries its start data (graphile_payload.sql),
-- stamped with this version, read in the same statement as the rules (one snapshot). The worker
-- starts such a job without reading its row only while the version it knows is the stamp: a rule
-- created since (tg_flow_rules__version.sql bumps the version in the rule's transaction and
-- NOTIFYs the workers) sends the start through begin_jobs, which applies it. A job enqueued by a
-- transaction that overlapped the rule's carries the old version, so it cannot slip past.
--
-- PL/pgSQL with generic plans: a SQL function with a sub-select is never inlined, and would be
-- planned at every call.

create or replace function jobdeck_private.flow_rules_version() returns bigint
language plpgsql stable
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
begin
  return coalesce((select (s.value #>> '{}'::text[])::bigint from jobdeck_private.settings s
                    where s.name = 'flow_rules_version'), 0);
end;
$$;
revoke all on function jobdeck_private.flow_rules_version() from public;
