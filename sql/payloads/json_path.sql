-- jobdeck_private.json_path(parent, key): the path of a field in error messages (payload.a["b c"]).

create or replace function jobdeck_private.json_path(parent text, key text) returns text
language sql immutable parallel safe
as $$
  select case when key ~ '^[A-Za-z_][A-Za-z0-9_]*$' then parent || '.' || key
              else parent || '[' || to_json(key)::text || ']' end
$$;
