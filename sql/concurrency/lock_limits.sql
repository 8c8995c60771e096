-- jobdeck_private.lock_limits(keys): takes the concurrency limits' advisory locks for the transaction.
--
-- `keys` as limit_keys gives them (`type:x`, `queue:q`). Lock order everywhere: organisation locks
-- (lock_orgs) first, then limit locks (sorted, as here), then job rows (by id).

create or replace function jobdeck_private.lock_limits(keys text[]) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_key text;
begin
  for v_key in select distinct k from unnest(keys) k where k is not null order by 1 loop
    perform pg_advisory_xact_lock(hashtextextended('jobdeck.limit:' || v_key, 0));
  end loop;
end;
$$;
revoke all on function jobdeck_private.lock_limits(keys text[]) from public;
