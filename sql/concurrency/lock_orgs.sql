-- jobdeck_private.lock_orgs(org_ids): takes the organisations' advisory locks for the transaction.
-- requires: concurrency/lock_limits.sql
--
-- The organisation cap's locks are limit locks with the key `org:<id>` (lock_limits). Lock order
-- everywhere: organisation locks (sorted) first, then the other limit locks (sorted), then job rows
-- (by id).

create or replace function jobdeck_private.lock_orgs(org_ids text[]) returns void
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  select jobdeck_private.lock_limits(array(select 'org:' || o from unnest(org_ids) o where o is not null));
$$;
revoke all on function jobdeck_private.lock_orgs(org_ids text[]) from public;
