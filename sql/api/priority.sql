-- jobdeck.priority(name): a priority by name (urgent -20, high -10, normal 0, low 10).

create or replace function jobdeck.priority(name text) returns integer
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  return case lower(trim(name))
    when 'urgent' then -20 when 'high' then -10 when 'normal' then 0 when 'low' then 10
    else null end;
end;
$$;
comment on function jobdeck.priority is
  'Priority by name (lower runs first): urgent -20, high -10, normal 0, low 10; null for an unknown name.';
revoke all on function jobdeck.priority(name text) from public;
grant execute on function jobdeck.priority(name text) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
