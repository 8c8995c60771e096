-- jobdeck_private.notify_jobs(kind, ids, owner_ids, org_ids): NOTIFYs jobs' ids on their secret channels.
--
-- The one place channel names are made (src/live/channels.ts makes the same ones). PostgreSQL
-- checks nothing on LISTEN and NOTIFY, so a channel is private only if its name cannot be guessed:
-- each is 'jobdeck:<kind>:' and the first 48 hex digits (192 bits) of
-- sha256(secret || '<kind>:<key>'), the secret being migration 000010's. Truncation also rules
-- out sha256's length extension. Keys: a job's id (kind job); its organisation and owner,
-- '<bytes of org>:<org>:<owner>' so no pair can imitate another (kind owner, only when both are
-- set: subscribers always have an organisation); its organisation (kind org); '' for kind cancel,
-- the one channel workers listen on for cancel requests.
--
-- kind 'change': every job on its job, owner and organisation channels. kind 'new': a new job on
-- its owner and organisation channels only (nobody can be subscribed to a job that did not exist:
-- watchers, subscriptions and streams read the job before they follow it and refuse an unknown
-- id). kind 'cancel': every job on the cancel channel (owner_ids and org_ids unused). The payload is {"id": …} and nothing else:
-- listeners re-read the row, so a forged notification can at most cause a re-read.
--
-- Security definer: it reads the secret, which the roles whose writes fire the triggers must not.
-- One call per statement (the triggers pass arrays), so the secret is read once per statement and
-- each name costs one sha256 (about 1.5 µs), computed inline rather than by a function per row.
-- Owner only: granted to no role.
--
-- Replaces jobdeck.channel_name(kind, id), which spelled ids out; dropped here rather than in a
-- numbered migration so that it goes in the same transaction as the triggers stop calling it.

drop function if exists jobdeck.channel_name(text, text);

create or replace function jobdeck_private.notify_jobs(kind text, ids uuid[], owner_ids text[] default null,
                                                       org_ids text[] default null)
returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
begin
  perform pg_catalog.pg_notify(
            'jobdeck:' || c.kind || ':' ||
              pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(
                s.secret || pg_catalog.convert_to(c.kind || ':' || c.key, 'UTF8')), 'hex'), 48),
            pg_catalog.json_build_object('id', c.id)::pg_catalog.text)
     from jobdeck_private.notify_secret s
    cross join (
      select 'cancel', '', j.id
        from pg_catalog.unnest(ids) as j(id)
       where notify_jobs.kind = 'cancel'
      union all
      select v.kind, v.key, j.id
        from rows from (pg_catalog.unnest(ids), pg_catalog.unnest(owner_ids), pg_catalog.unnest(org_ids))
             as j(id, owner_id, org_id)
       cross join lateral (values
              ('job', j.id::pg_catalog.text),
              ('owner', pg_catalog.octet_length(j.org_id) || ':' || j.org_id || ':' || j.owner_id),
              ('org', j.org_id)) as v(kind, key)
       where notify_jobs.kind in ('change', 'new') and v.key is not null
         and (notify_jobs.kind = 'change' or v.kind <> 'job')
    ) as c(kind, key, id);
end;
$$;

comment on function jobdeck_private.notify_jobs(text, uuid[], text[], text[]) is
  'NOTIFY {"id"} for each job on its secret-derived channels: kind change (job, owner, org) or cancel.';
revoke all on function jobdeck_private.notify_jobs(kind text, ids uuid[], owner_ids text[], org_ids text[]) from public;
