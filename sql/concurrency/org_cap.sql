-- jobdeck_private.org_cap(): the concurrency cap for every organisation, or null for none.
--
-- Written to jobdeck_private.settings by workers from JOBDECK_ORG_CONCURRENCY; 0 means none.
--
-- Inlined into its callers' queries, so no `set search_path` (a SET clause stops inlining):
-- every function it calls is schema-qualified and every operator has operands of exact types
-- (docs/security.md).

create or replace function jobdeck_private.org_cap() returns integer
language sql stable
as $$
  select nullif((s.value #>> '{}')::integer, 0) from jobdeck_private.settings s where s.name = 'org_concurrency'
$$;
revoke all on function jobdeck_private.org_cap() from public;
