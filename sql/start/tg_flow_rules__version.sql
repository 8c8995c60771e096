-- The triggers that bump jobdeck_private.flow_rules_version() when a flow rule appears or changes
-- (a concurrency cap per organisation, type, queue or key, a rate limit, a pause), and NOTIFY the
-- workers on the cancel channel with the nil job id, which tells them to read the version again
-- (src/worker/start-data.ts). From then on no start skips begin_jobs' checks on the strength of
-- start data written before the rule (flow_rules_version.sql). Removing a rule needs no bump.
-- requires: start/flow_rules_version.sql events/notify_jobs.sql

create or replace function jobdeck_private.tg_flow_rules__version() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into jobdeck_private.settings as s (name, value) values ('flow_rules_version', '1'::jsonb)
  on conflict (name) do update
    set value = pg_catalog.to_jsonb((s.value #>> '{}'::text[])::bigint + 1), updated_at = pg_catalog.now();
  perform jobdeck_private.notify_jobs('cancel', array['00000000-0000-0000-0000-000000000000'::uuid]);
  return null;
end;
$$;
revoke all on function jobdeck_private.tg_flow_rules__version() from public;

drop trigger if exists _400_flow_rules_version on jobdeck_private.concurrency_limits;
create trigger _400_flow_rules_version after insert or update on jobdeck_private.concurrency_limits
  for each statement execute function jobdeck_private.tg_flow_rules__version();
drop trigger if exists _400_flow_rules_version on jobdeck_private.rate_limits;
create trigger _400_flow_rules_version after insert or update on jobdeck_private.rate_limits
  for each statement execute function jobdeck_private.tg_flow_rules__version();
drop trigger if exists _400_flow_rules_version on jobdeck_private.pauses;
create trigger _400_flow_rules_version after insert or update on jobdeck_private.pauses
  for each statement execute function jobdeck_private.tg_flow_rules__version();
-- Task types are upserted by every worker at its start: only a cap that appears or changes counts.
drop trigger if exists _400_flow_rules_version on jobdeck_private.task_types;
create trigger _400_flow_rules_version after update on jobdeck_private.task_types
  for each row
  when ((new.org_concurrency is not null and new.org_concurrency is distinct from old.org_concurrency)
        or (new.key_concurrency is not null and new.key_concurrency is distinct from old.key_concurrency))
  execute function jobdeck_private.tg_flow_rules__version();
drop trigger if exists _400_flow_rules_version_insert on jobdeck_private.task_types;
create trigger _400_flow_rules_version_insert after insert on jobdeck_private.task_types
  for each row when (new.org_concurrency is not null or new.key_concurrency is not null)
  execute function jobdeck_private.tg_flow_rules__version();
drop trigger if exists _400_flow_rules_version on jobdeck_private.settings;
create trigger _400_flow_rules_version after insert or update on jobdeck_private.settings
  for each row when (new.name = 'org_concurrency')
  execute function jobdeck_private.tg_flow_rules__version();
