-- jobdeck.enqueue(type, payload, …): the trusted enqueue, callable from any SQL (triggers too).
-- requires: auth/deny_api_caller.sql enqueue/enqueue.sql webhooks/set_webhook.sql
-- requires: notifications/set_email_notification.sql
--
-- Enqueues one job in the current transaction. It takes owner and organisation as arguments, so
-- API callers may not use it (they have enqueue_job). The work is jobdeck_private.enqueue's;
-- this adds the caller check, the webhook URL and the e-mail notification (notify_email: the
-- addresses; notify_on: succeeded and/or failed, default both). depends_on: ids of jobs this one
-- waits for (it is `waiting` until they all succeed), on_dependency_failure: cancel (default) or
-- run (sql/dependencies/).
--
-- plan_cache_mode: its statements are planned once per connection (migration 000007,
-- docs/performance.md); no plan depends on a parameter's value.

-- notify_email and notify_on were added by issue 19: the old signature goes.
drop function if exists jobdeck.enqueue(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, key_mode text, webhook_url text);
-- depends_on and on_dependency_failure were added by issue 21 (dependencies): the old signature goes.
drop function if exists jobdeck.enqueue(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, key_mode text, webhook_url text, notify_email text[], notify_on text[]);

create or replace function jobdeck.enqueue(
  type text,
  payload jsonb default '{}',
  priority integer default 0,
  run_at timestamptz default null,
  max_attempts integer default null,
  key text default null,
  queue text default null,
  owner_id text default null,
  org_id text default null,
  related_type text default null,
  related_id text default null,
  metadata jsonb default '{}',
  key_mode text default 'keep',
  webhook_url text default null,
  notify_email text[] default null,
  notify_on text[] default null,
  depends_on uuid[] default null,
  on_dependency_failure text default null
) returns jobdeck.jobs
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_job jobdeck.jobs;
begin
  perform jobdeck_private.deny_api_caller('jobdeck.enqueue()');
  v_job := jobdeck_private.enqueue(type, payload, priority, run_at, max_attempts, key, queue, owner_id, org_id,
                                   related_type, related_id, metadata, key_mode, depends_on,
                                   on_dependency_failure);
  if webhook_url is not null then
    v_job := jobdeck_private.set_webhook(v_job.id, webhook_url);
  end if;
  if notify_email is not null then
    v_job := jobdeck_private.set_email_notification(v_job.id, notify_email, notify_on);
  elsif notify_on is not null then
    raise exception 'notify_on needs notify_email (the addresses to notify)' using errcode = 'JD004';
  end if;
  return v_job;
end;
$$;
comment on function jobdeck.enqueue is
  'Enqueue a tracked job in the current transaction. key_mode keep|replace. Errors: JD001 unknown type, JD002 invalid payload, JD003 payload too large, JD004 bad option.';
revoke all on function jobdeck.enqueue(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, key_mode text, webhook_url text, notify_email text[], notify_on text[], depends_on uuid[], on_dependency_failure text) from public;
grant execute on function jobdeck.enqueue(type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, key_mode text, webhook_url text, notify_email text[], notify_on text[], depends_on uuid[], on_dependency_failure text) to jobdeck_system;
