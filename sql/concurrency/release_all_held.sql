-- jobdeck_private.release_all_held(): releases held jobs of every organisation, type and queue with room.
-- requires: concurrency/release_held.sql
--
-- Safety net run by workers now and then: after a cap or limit was raised, or a finish that could
-- not release them.

create or replace function jobdeck_private.release_all_held() returns integer
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  select jobdeck_private.release_held(
    array(select distinct j.org_id from jobdeck.jobs j where j.held_at is not null and j.org_id is not null),
    array(select distinct k from jobdeck.jobs j
                 cross join lateral (values ('type:' || j.type), ('queue:' || j.queue),
                                            ('key:' || j.type || ':' || coalesce(j.concurrency_key, ''))) v(k)
           where j.held_at is not null and k is not null))
$$;
revoke all on function jobdeck_private.release_all_held() from public;
