-- jobdeck_private.notify_batches(ids): NOTIFYs batches' ids on their secret channels.
--
-- The batch counterpart of events/notify_jobs.sql, with the same scheme: the channel of a batch is
-- 'jobdeck:batch:' and the first 48 hex digits of sha256(secret || 'batch:<id>') (src/live/
-- channels.ts makes the same name), and the payload is {"id": …} alone: listeners re-read the row.
-- Security definer: it reads the secret. Owner only: granted to no role.

create or replace function jobdeck_private.notify_batches(ids uuid[])
returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
begin
  perform pg_catalog.pg_notify(
            'jobdeck:batch:' ||
              pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(
                s.secret || pg_catalog.convert_to('batch:' || b.id::pg_catalog.text, 'UTF8')), 'hex'), 48),
            pg_catalog.json_build_object('id', b.id)::pg_catalog.text)
     from jobdeck_private.notify_secret s
    cross join pg_catalog.unnest(ids) as b(id);
end;
$$;

comment on function jobdeck_private.notify_batches(uuid[]) is
  'NOTIFY {"id"} for each batch on its secret-derived channel (kind batch).';
revoke all on function jobdeck_private.notify_batches(ids uuid[]) from public;
