-- jobdeck_private.lock_orgs(org_ids): takes the organisations' advisory locks for the transaction.
--
-- Lock order everywhere: organisation locks (sorted, as here) first, then job rows (by id).

create or replace function jobdeck_private.lock_orgs(org_ids text[]) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_org text;
begin
  for v_org in select distinct o from unnest(org_ids) o where o is not null order by 1 loop
    perform pg_advisory_xact_lock(hashtextextended('jobdeck.org:' || v_org, 0));
  end loop;
end;
$$;
revoke all on function jobdeck_private.lock_orgs(org_ids text[]) from public;
