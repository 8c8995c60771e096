-- jobdeck_private.history_partition(purge_on): the name of the weekly history partition of jobdeck.jobs holding a purge_on day.
--
-- Weeks start on Monday (ISO): jobs_p20261207 holds purge_on from 2026-12-07 to 2026-12-13, and
-- may be dropped from 2026-12-14 on (drop_history_partitions). Migration 000024.

create or replace function jobdeck_private.history_partition(purge_on date) returns text
language sql immutable strict
set search_path = pg_catalog, pg_temp
as $$
  select 'jobs_p' || pg_catalog.to_char(pg_catalog.date_trunc('week', purge_on::timestamp), 'YYYYMMDD')
$$;
comment on function jobdeck_private.history_partition(date) is
  'The name (in jobdeck_private) of the weekly partition of jobdeck.jobs holding this purge_on day.';
revoke all on function jobdeck_private.history_partition(purge_on date) from public;
