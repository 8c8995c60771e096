-- jobdeck_private.org_cap(): the concurrency cap for every organisation, or null for none.
--
-- Written to jobdeck_private.settings by workers from JOBDECK_ORG_CONCURRENCY; 0 means none.
--
-- PL/pgSQL with generic plans: as a `language sql` function with a FROM clause it was never
-- inlined (only a body without FROM is), and PostgreSQL planned its body at every call; here the
-- statement is planned once per connection. Callers: begin_jobs, admit_jobs, capped_orgs and
-- start_data_allowed.

create or replace function jobdeck_private.org_cap() returns integer
language plpgsql stable
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
begin
  return (select nullif((s.value #>> '{}'::text[])::integer, 0) from jobdeck_private.settings s
           where s.name = 'org_concurrency');
end;
$$;
revoke all on function jobdeck_private.org_cap() from public;
