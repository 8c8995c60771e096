-- jobdeck_private.json_schema_errors(schema, doc, path): what is wrong with a payload, one message each.
-- requires: payloads/json_path.sql
--
-- A JSON Schema checker for the subset task payload schemas use (type, enum, const, properties,
-- required, additionalProperties, items, prefixItems, min/max/Length/Items/Properties, pattern,
-- minimum/maximum/exclusive*, multipleOf, anyOf/oneOf/allOf). Unknown keywords are ignored, as
-- JSON Schema itself does. Returns one readable message per problem, naming the field.

create or replace function jobdeck_private.json_schema_errors(schema jsonb, doc jsonb, path text default 'payload')
returns text[]
language plpgsql immutable parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
  errs   text[] := '{}';
  t      text := jsonb_typeof(doc);
  types  text[];
  k      text;
  sub    jsonb;
  i      integer;
  n      integer;
  matched integer;
  branch_errs text[];
  first_branch_errs text[];
  child_path text;
begin
  if schema is null or schema = 'true'::jsonb or schema = '{}'::jsonb then
    return errs;
  end if;
  if schema = 'false'::jsonb then
    return array[path || ': is not allowed'];
  end if;

  if schema ? 'type' then
    types := case jsonb_typeof(schema -> 'type')
      when 'array' then array(select jsonb_array_elements_text(schema -> 'type'))
      else array[schema ->> 'type'] end;
    if not (t = any (types)
            or (t = 'number' and 'integer' = any (types) and (doc::text)::numeric = trunc((doc::text)::numeric))) then
      return array[format('%s: expected %s, got %s', path, array_to_string(types, ' or '),
        case when t = 'number' and 'integer' = any (types) then 'a fraction' else t end)];
    end if;
  end if;

  if schema ? 'const' and doc is distinct from schema -> 'const' then
    errs := errs || format('%s: must be %s', path, schema -> 'const');
  end if;
  if schema ? 'enum' and not exists (select 1 from jsonb_array_elements(schema -> 'enum') e where e = doc) then
    errs := errs || format('%s: must be one of %s', path,
      (select string_agg(e::text, ', ') from jsonb_array_elements(schema -> 'enum') e));
  end if;

  if t = 'string' then
    n := char_length(doc #>> '{}');
    if schema ? 'minLength' and n < (schema ->> 'minLength')::int then
      errs := errs || format('%s: must be at least %s characters', path, schema ->> 'minLength');
    end if;
    if schema ? 'maxLength' and n > (schema ->> 'maxLength')::int then
      errs := errs || format('%s: must be at most %s characters', path, schema ->> 'maxLength');
    end if;
    if schema ? 'pattern' and not ((doc #>> '{}') ~ (schema ->> 'pattern')) then
      errs := errs || format('%s: must match %s', path, schema ->> 'pattern');
    end if;
  elsif t = 'number' then
    if schema ? 'minimum' and (doc::text)::numeric < (schema ->> 'minimum')::numeric then
      errs := errs || format('%s: must be >= %s', path, schema ->> 'minimum');
    end if;
    if schema ? 'maximum' and (doc::text)::numeric > (schema ->> 'maximum')::numeric then
      errs := errs || format('%s: must be <= %s', path, schema ->> 'maximum');
    end if;
    if jsonb_typeof(schema -> 'exclusiveMinimum') = 'number'
       and (doc::text)::numeric <= (schema ->> 'exclusiveMinimum')::numeric then
      errs := errs || format('%s: must be > %s', path, schema ->> 'exclusiveMinimum');
    end if;
    if jsonb_typeof(schema -> 'exclusiveMaximum') = 'number'
       and (doc::text)::numeric >= (schema ->> 'exclusiveMaximum')::numeric then
      errs := errs || format('%s: must be < %s', path, schema ->> 'exclusiveMaximum');
    end if;
    if schema ? 'multipleOf' and mod((doc::text)::numeric, (schema ->> 'multipleOf')::numeric) <> 0 then
      errs := errs || format('%s: must be a multiple of %s', path, schema ->> 'multipleOf');
    end if;
  elsif t = 'object' then
    if jsonb_typeof(schema -> 'required') = 'array' then
      for k in select jsonb_array_elements_text(schema -> 'required') loop
        if not doc ? k then
          errs := errs || format('%s: is required', jobdeck_private.json_path(path, k));
        end if;
      end loop;
    end if;
    for k, sub in select * from jsonb_each(doc) loop
      child_path := jobdeck_private.json_path(path, k);
      if jsonb_typeof(schema -> 'properties') = 'object' and schema -> 'properties' ? k then
        errs := errs || jobdeck_private.json_schema_errors(schema -> 'properties' -> k, sub, child_path);
      elsif schema ? 'additionalProperties' then
        if schema -> 'additionalProperties' = 'false'::jsonb then
          errs := errs || format('%s: is not an allowed field', child_path);
        else
          errs := errs || jobdeck_private.json_schema_errors(schema -> 'additionalProperties', sub, child_path);
        end if;
      end if;
    end loop;
    n := (select count(*) from jsonb_object_keys(doc));
    if schema ? 'minProperties' and n < (schema ->> 'minProperties')::int then
      errs := errs || format('%s: must have at least %s fields', path, schema ->> 'minProperties');
    end if;
    if schema ? 'maxProperties' and n > (schema ->> 'maxProperties')::int then
      errs := errs || format('%s: must have at most %s fields', path, schema ->> 'maxProperties');
    end if;
  elsif t = 'array' then
    n := jsonb_array_length(doc);
    if schema ? 'minItems' and n < (schema ->> 'minItems')::int then
      errs := errs || format('%s: must have at least %s items', path, schema ->> 'minItems');
    end if;
    if schema ? 'maxItems' and n > (schema ->> 'maxItems')::int then
      errs := errs || format('%s: must have at most %s items', path, schema ->> 'maxItems');
    end if;
    for i in 0 .. n - 1 loop
      if jsonb_typeof(schema -> 'prefixItems') = 'array' and i < jsonb_array_length(schema -> 'prefixItems') then
        errs := errs || jobdeck_private.json_schema_errors(schema -> 'prefixItems' -> i, doc -> i, path || '[' || i || ']');
      elsif jsonb_typeof(schema -> 'items') = 'object' or jsonb_typeof(schema -> 'items') = 'boolean' then
        errs := errs || jobdeck_private.json_schema_errors(schema -> 'items', doc -> i, path || '[' || i || ']');
      end if;
      exit when cardinality(errs) >= 20;
    end loop;
  end if;

  if jsonb_typeof(schema -> 'allOf') = 'array' then
    for sub in select jsonb_array_elements(schema -> 'allOf') loop
      errs := errs || jobdeck_private.json_schema_errors(sub, doc, path);
    end loop;
  end if;
  if jsonb_typeof(schema -> 'anyOf') = 'array' or jsonb_typeof(schema -> 'oneOf') = 'array' then
    matched := 0;
    first_branch_errs := null;
    for sub in select jsonb_array_elements(coalesce(schema -> 'anyOf', schema -> 'oneOf')) loop
      branch_errs := jobdeck_private.json_schema_errors(sub, doc, path);
      if cardinality(branch_errs) = 0 then
        matched := matched + 1;
      elsif first_branch_errs is null then
        first_branch_errs := branch_errs;
      end if;
    end loop;
    if matched = 0 then
      errs := errs || format('%s: does not match any allowed form (%s)', path,
        array_to_string(first_branch_errs, '; '));
    elsif schema ? 'oneOf' and matched > 1 then
      errs := errs || format('%s: matches more than one allowed form', path);
    end if;
  end if;
  return errs;
end;
$$;
revoke all on function jobdeck_private.json_schema_errors(schema jsonb, doc jsonb, path text) from public;
