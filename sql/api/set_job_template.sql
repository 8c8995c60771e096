-- jobdeck.set_job_template(name, type, …): creates or replaces a job template.
-- requires: auth/deny_api_caller.sql
--
-- Trusted callers only (jobdeck_system): a template may carry a webhook URL and e-mail addresses,
-- and a priority outside the API's range. The type must be a registered task type (JD001); the
-- payload defaults must be a JSON object (JD002) no larger than the type's payload limit (JD003).
-- They are not checked against the payload schema here: defaults may leave out fields each
-- enqueue supplies; the merged payload is checked at every enqueue. Other bad values are refused
-- by the table's constraints (23514, a clear "violates check constraint <name>").

create or replace function jobdeck.set_job_template(
  name text,
  type text,
  payload_defaults jsonb default '{}',
  priority integer default null,
  queue text default null,
  max_attempts integer default null,
  webhook_url text default null,
  notify_email text[] default null,
  notify_on text[] default null,
  description text default null,
  org_id text default null
) returns jobdeck.job_templates
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_type     jobdeck_private.task_types;
  v_template jobdeck.job_templates;
begin
  perform jobdeck_private.deny_api_caller('jobdeck.set_job_template()');
  if name is null or name !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$' then
    raise exception 'template name must be 1 to 128 letters, digits, _ . : or - (starting with a letter or digit), got "%"',
      left(coalesce(name, 'null'), 200) using errcode = 'JD004';
  end if;
  select * into v_type from jobdeck_private.task_types t where t.type = set_job_template.type;
  if not found then
    raise exception 'template "%": unknown job type "%"', name, left(coalesce(type, 'null'), 200) using errcode = 'JD001',
      hint = coalesce('known types: ' || (select string_agg(t.type, ', ' order by t.type) from jobdeck_private.task_types t),
                      'no task types are registered yet: run `jobdeck migrate` or start a worker');
  end if;
  if payload_defaults is null or jsonb_typeof(payload_defaults) <> 'object' then
    raise exception 'template "%": payload defaults must be a JSON object', name using errcode = 'JD002';
  end if;
  if octet_length(payload_defaults::text) > v_type.max_payload_bytes then
    raise exception 'template "%": payload defaults of % bytes are over the % byte limit for job type "%"',
      name, octet_length(payload_defaults::text), v_type.max_payload_bytes, type using errcode = 'JD003';
  end if;
  if notify_on is not null and notify_email is null then
    raise exception 'template "%": notify_on needs notify_email (the addresses to notify)', name using errcode = 'JD004';
  end if;
  insert into jobdeck.job_templates as t (name, type, payload_defaults, priority, queue, max_attempts, webhook_url,
                                          notify_email, notify_on, description, org_id)
  values (name, type, payload_defaults, priority, queue, max_attempts, webhook_url, notify_email, notify_on,
          description, org_id)
  on conflict on constraint job_templates_pkey do update
     set type = excluded.type, payload_defaults = excluded.payload_defaults, priority = excluded.priority,
         queue = excluded.queue, max_attempts = excluded.max_attempts, webhook_url = excluded.webhook_url,
         notify_email = excluded.notify_email, notify_on = excluded.notify_on, description = excluded.description,
         org_id = excluded.org_id, updated_at = now()
  returning t.* into v_template;
  return v_template;
end;
$$;
comment on function jobdeck.set_job_template is
  'Create or replace a job template (trusted callers). Errors: JD001 unknown type, JD002 bad payload defaults, JD003 defaults too large, JD004 bad option, 23514 a value out of range.';
revoke all on function jobdeck.set_job_template(name text, type text, payload_defaults jsonb, priority integer, queue text, max_attempts integer, webhook_url text, notify_email text[], notify_on text[], description text, org_id text) from public;
grant execute on function jobdeck.set_job_template(name text, type text, payload_defaults jsonb, priority integer, queue text, max_attempts integer, webhook_url text, notify_email text[], notify_on text[], description text, org_id text) to jobdeck_system;
