-- jobdeck.enqueue_batch(specs, on_complete, payload, owner_id, org_id): the trusted batch enqueue, all or none.
-- requires: auth/deny_api_caller.sql batches/enqueue_batch.sql
--
-- `specs` as for jobdeck.enqueue_many (without keys, webhooks or e-mail notifications);
-- `on_complete` a task type enqueued when the last job finishes, with `payload` plus
-- {"batch": {id, total, succeeded, failed, cancelled}}. Refused to API callers, like enqueue().

create or replace function jobdeck.enqueue_batch(specs jsonb, on_complete text default null,
                                                 payload jsonb default '{}', owner_id text default null,
                                                 org_id text default null)
returns jobdeck.batches
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
begin
  perform jobdeck_private.deny_api_caller('jobdeck.enqueue_batch()');
  return jobdeck_private.enqueue_batch(specs, on_complete, payload, owner_id, org_id);
end;
$$;
comment on function jobdeck.enqueue_batch(jsonb, text, jsonb, text, text) is
  E'@behavior -*\nEnqueue jobs as one batch (aggregate progress, cancellable as a whole, an optional on-complete job): all or none.';
revoke all on function jobdeck.enqueue_batch(specs jsonb, on_complete text, payload jsonb, owner_id text, org_id text) from public;
grant execute on function jobdeck.enqueue_batch(specs jsonb, on_complete text, payload jsonb, owner_id text, org_id text) to jobdeck_system;
