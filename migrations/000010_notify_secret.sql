-- jobdeck 000010: the secret NOTIFY channel names are derived from (issue 18).
--
-- PostgreSQL has no privileges on LISTEN or NOTIFY: any role that can connect may listen on, or
-- notify, any channel whose name it knows. Channel names spelled from job, owner and organisation
-- ids let any such role follow every tenant's jobs and forge cancel requests. From here on every
-- channel name ends in a keyed hash of this secret (sql/events/notify_jobs.sql, mirrored by
-- src/live/channels.ts), so only roles that can read this table can name a channel.
--
-- 32 bytes from three gen_random_uuid() values (PostgreSQL 13+, 366 random bits) through sha256,
-- both built in: no extension needed. Owner-only: no grant to PUBLIC or to jobdeck's API roles,
-- and row-level security with no policy as a second lock. To rotate it, update the row and
-- restart every jobdeck process (they read it once at start).

create table jobdeck_private.notify_secret (
  singleton  boolean primary key default true
    constraint notify_secret_singleton check (singleton),
  secret     bytea not null
    constraint notify_secret_length check (octet_length(secret) = 32),
  created_at timestamptz not null default now()
);

insert into jobdeck_private.notify_secret (secret)
select pg_catalog.sha256(pg_catalog.convert_to(
         pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text,
         'UTF8'));

alter table jobdeck_private.notify_secret enable row level security;
revoke all on jobdeck_private.notify_secret from public;
revoke all on jobdeck_private.notify_secret from jobdeck_api, jobdeck_anonymous, jobdeck_user, jobdeck_admin;

comment on table jobdeck_private.notify_secret is
  'The key NOTIFY channel names are hashed with (one row). Readable by the owner only: a role that can read it can listen to every tenant.';
