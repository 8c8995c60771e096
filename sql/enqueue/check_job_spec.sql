-- jobdeck_private.check_job_spec(label, type, payload, …): checks one job spec before it is written.
-- requires: payloads/json_schema_errors.sql
--
-- Raises the matching JDxxx error, its message starting with `label` (e.g. `jobs[3]`) when
-- given: JD001 unknown job type, JD002 invalid payload, JD003 payload too large, JD004 invalid
-- enqueue option. Returns the max_attempts to use. Writes nothing.

create or replace function jobdeck_private.check_job_spec(
  label text, type text, payload jsonb, priority integer, run_at timestamptz, max_attempts integer,
  key text, queue text, metadata jsonb
) returns integer
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_type   jobdeck_private.task_types;
  v_errors text[];
  v_size   integer;
  v_prefix text := coalesce(label || ': ', '');
begin
  if type is null or type = '' then
    raise exception '%job type is required', v_prefix using errcode = 'JD001';
  end if;
  select * into v_type from jobdeck_private.task_types t where t.type = check_job_spec.type;
  if not found then
    raise exception '%unknown job type "%"', v_prefix, left(type, 200) using errcode = 'JD001',
      hint = coalesce('known types: ' || (select string_agg(t.type, ', ' order by t.type) from jobdeck_private.task_types t),
                      'no task types are registered yet: run `jobdeck migrate` or start a worker');
  end if;
  if payload is null then
    raise exception '%payload must be JSON, not null', v_prefix using errcode = 'JD002';
  end if;
  v_size := octet_length(payload::text);
  if v_size > v_type.max_payload_bytes then
    raise exception '%payload of % bytes is over the % byte limit for job type "%"',
      v_prefix, v_size, v_type.max_payload_bytes, type using errcode = 'JD003';
  end if;
  v_errors := jobdeck_private.json_schema_errors(v_type.payload_schema, payload, 'payload');
  if cardinality(v_errors) > 0 then
    raise exception '%invalid payload for job type "%": %', v_prefix, type, array_to_string(v_errors[1:10], '; ')
      using errcode = 'JD002', detail = to_jsonb(v_errors)::text;
  end if;
  if priority is null or priority not between -32768 and 32767 then
    raise exception '%priority must be a whole number from -32768 to 32767, got %', v_prefix, coalesce(priority::text, 'null')
      using errcode = 'JD004';
  end if;
  if max_attempts is not null and max_attempts not between 1 and 32767 then
    raise exception '%max_attempts must be from 1 to 32767, got %', v_prefix, max_attempts using errcode = 'JD004';
  end if;
  if run_at is not null and not isfinite(run_at) then
    raise exception '%run_at must be a finite time', v_prefix using errcode = 'JD004';
  end if;
  if key is not null and length(key) not between 1 and 512 then
    raise exception '%key must be 1 to 512 characters', v_prefix using errcode = 'JD004';
  end if;
  if queue is not null and length(queue) not between 1 and 128 then
    raise exception '%queue must be 1 to 128 characters', v_prefix using errcode = 'JD004';
  end if;
  if metadata is null or jsonb_typeof(metadata) <> 'object' then
    raise exception '%metadata must be a JSON object', v_prefix using errcode = 'JD004';
  end if;
  return coalesce(max_attempts, v_type.max_attempts);
end;
$$;
revoke all on function jobdeck_private.check_job_spec(label text, type text, payload jsonb, priority integer, run_at timestamp with time zone, max_attempts integer, key text, queue text, metadata jsonb) from public;
