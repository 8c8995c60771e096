-- jobdeck.enqueue_template(name, payload, …): the trusted enqueue from a job template.
-- requires: auth/deny_api_caller.sql templates/enqueue_from_template.sql
--
-- jobdeck.enqueue's options, each null meaning "the template's" (priority, max_attempts, queue,
-- webhook_url, notify_email, notify_on); the payload is merged over the template's defaults. A
-- template of an organisation makes that organisation's jobs: org_id may be left out, and naming
-- another one is refused (JD004). An unknown name is JD010. API callers have
-- jobdeck.enqueue_from_template.
--
-- plan_cache_mode: as jobdeck.enqueue (migration 000007).

create or replace function jobdeck.enqueue_template(
  name text,
  payload jsonb default '{}',
  priority integer default null,
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
  notify_on text[] default null
) returns jobdeck.jobs
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_template jobdeck.job_templates;
begin
  perform jobdeck_private.deny_api_caller('jobdeck.enqueue_template()');
  select * into v_template from jobdeck.job_templates t where t.name = enqueue_template.name;
  if not found then
    raise exception 'job template "%" not found', left(coalesce(name, 'null'), 200) using errcode = 'JD010';
  end if;
  if v_template.org_id is not null and org_id is not null and org_id <> v_template.org_id then
    raise exception 'job template "%" belongs to another organisation than "%"', name, org_id using errcode = 'JD004';
  end if;
  return jobdeck_private.enqueue_from_template(
    v_template, payload, priority, run_at, max_attempts, key, queue, owner_id, coalesce(org_id, v_template.org_id),
    related_type, related_id, metadata, key_mode, webhook_url, notify_email, notify_on);
end;
$$;
comment on function jobdeck.enqueue_template is
  'Enqueue a tracked job from a job template in the current transaction (trusted callers). Errors: JD001 unknown type, JD002 invalid payload, JD003 payload too large, JD004 bad option, JD010 unknown template.';
revoke all on function jobdeck.enqueue_template(name text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, key_mode text, webhook_url text, notify_email text[], notify_on text[]) from public;
grant execute on function jobdeck.enqueue_template(name text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb, key_mode text, webhook_url text, notify_email text[], notify_on text[]) to jobdeck_system;
