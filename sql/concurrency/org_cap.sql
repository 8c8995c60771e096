-- jobdeck_private.org_cap(): the concurrency cap for every organisation, or null for none.
--
-- Written to jobdeck_private.settings by workers from JOBDECK_ORG_CONCURRENCY; 0 means none.

create or replace function jobdeck_private.org_cap() returns integer
language sql stable
as $$
  select nullif((s.value #>> '{}')::integer, 0) from jobdeck_private.settings s where s.name = 'org_concurrency'
$$;
