-- jobdeck_private.json_path(parent, key): the path of a field in error messages (payload.a["b c"]).
--
-- Inlined into its callers' queries, so no `set search_path` (a SET clause stops inlining):
-- every function it calls is schema-qualified and every operator has operands of exact types
-- (docs/security.md).

create or replace function jobdeck_private.json_path(parent text, key text) returns text
language sql immutable parallel safe
as $$
  select case when key ~ '^[A-Za-z_][A-Za-z0-9_]*$' then parent || '.' || key
              else parent || '[' || pg_catalog.to_json(key)::text || ']' end
$$;
revoke all on function jobdeck_private.json_path(parent text, key text) from public;
