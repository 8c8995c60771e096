-- jobdeck_private.limit_key(spec, subject, org_id, owner_id, payload, what, label): a job's key under a per-key limit.
--
-- `spec` is a key spec as rate_limits.key_spec and task_types.concurrency_key_spec store it:
-- `org` (the job's orgId), `owner` (its ownerId) or `payload:<path>` (a dotted path into the
-- payload, whose value must be a string or a number). Null spec: no key. A spec that fails on the
-- job refuses the enqueue, naming the field (`subject` whose limit, e.g. `task type "sync"` or
-- `queue "crm"`, `what` which limit, `label` which job of a
-- list): JD004 for a missing orgId/ownerId, JD002 (invalid payload, the field in DETAIL) for a
-- payload path. Keys longer than 200 characters are refused too: they become lock and bucket keys.

drop function if exists jobdeck_private.limit_key(text, text, text, text, jsonb, text, text);
create or replace function jobdeck_private.limit_key(
  spec text, subject text, org_id text, owner_id text, payload jsonb, what text, label text
) returns text
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_at    text := coalesce(label || ': ', '');
  v_field text;
  v_value jsonb;
  v_key   text;
begin
  if spec is null then
    return null;
  end if;
  if spec = 'org' then
    if org_id is null then
      raise exception '% has a % per organisation: the job needs an orgId', v_at || subject, what
        using errcode = 'JD004';
    end if;
    v_key := org_id;
  elsif spec = 'owner' then
    if owner_id is null then
      raise exception '% has a % per owner: the job needs an ownerId', v_at || subject, what
        using errcode = 'JD004';
    end if;
    v_key := owner_id;
  else
    v_field := substr(spec, length('payload:') + 1);
    v_value := payload #> string_to_array(v_field, '.');
    if v_value is null or jsonb_typeof(v_value) not in ('string', 'number') then
      raise exception '% has a % per payload field "%": the payload has %', v_at || subject, what, v_field,
        case when v_value is null then 'no such field'
             when jsonb_typeof(v_value) in ('object', 'array') then 'an ' || jsonb_typeof(v_value) || ' there'
             else 'a ' || jsonb_typeof(v_value) || ' there' end
             || ' (a string or number is needed)'
        using errcode = 'JD002',
              detail = jsonb_build_array(v_field || ': must be a string or number (the ' || what || '''s key)')::text;
    end if;
    v_key := v_value #>> '{}';
  end if;
  if length(v_key) > 200 then
    raise exception '%: the key of its % is longer than 200 characters', v_at || subject, what
      using errcode = 'JD004';
  end if;
  return v_key;
end;
$$;
revoke all on function jobdeck_private.limit_key(spec text, subject text, org_id text, owner_id text, payload jsonb, what text, label text) from public;
