-- jobdeck_private.flow_rules_version(): how many times a flow rule has appeared or changed.
--
-- A job that no flow rule covers when it is enqueued carries its start data (graphile_payload.sql),
-- stamped with this version, read in the same statement as the rules (one snapshot). The worker
-- starts such a job without reading its row only while the version it knows is the stamp: a rule
-- created since (tg_flow_rules__version.sql bumps the version in the rule's transaction and
-- NOTIFYs the workers) sends the start through begin_jobs, which applies it. A job enqueued by a
-- transaction that overlapped the rule's carries the old version, so it cannot slip past.
--
-- `language sql`, one expression, no settings: inlined into its callers, so no `set search_path`
-- (a SET clause stops inlining): every function it calls is schema-qualified and every operator has
-- operands of exact types (docs/security.md).

create or replace function jobdeck_private.flow_rules_version() returns bigint
language sql stable
as $$
  select coalesce((select (s.value #>> '{}'::text[])::bigint from jobdeck_private.settings s
                    where s.name = 'flow_rules_version'), 0)
$$;
revoke all on function jobdeck_private.flow_rules_version() from public;
