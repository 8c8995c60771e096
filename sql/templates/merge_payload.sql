-- jobdeck_private.merge_payload(defaults, payload): a template's payload defaults under a payload.
--
-- Deep merge: where both sides hold an object under a key, the two objects are merged the same
-- way; anywhere else the payload's value wins (arrays and scalars are replaced, not combined, and
-- an explicit null stays null). A payload that is not an object replaces empty defaults and is
-- refused over non-empty ones (JD002): there is nothing to merge it into.

create or replace function jobdeck_private.merge_payload(defaults jsonb, payload jsonb) returns jsonb
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_result jsonb := defaults;
  v_key    text;
  v_value  jsonb;
begin
  if payload is null then
    return defaults;
  end if;
  if jsonb_typeof(payload) <> 'object' then
    if defaults = '{}'::jsonb then
      return payload;
    end if;
    raise exception 'payload must be a JSON object to merge with the template''s payload defaults, got %',
      jsonb_typeof(payload) using errcode = 'JD002';
  end if;
  for v_key, v_value in select e.key, e.value from pg_catalog.jsonb_each(payload) e loop
    if jsonb_typeof(v_value) = 'object' and jsonb_typeof(v_result -> v_key) = 'object' then
      v_result := v_result || jsonb_build_object(v_key, jobdeck_private.merge_payload(v_result -> v_key, v_value));
    else
      v_result := v_result || jsonb_build_object(v_key, v_value);
    end if;
  end loop;
  return v_result;
end;
$$;
revoke all on function jobdeck_private.merge_payload(defaults jsonb, payload jsonb) from public;
