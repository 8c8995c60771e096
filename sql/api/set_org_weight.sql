-- jobdeck.set_org_weight(org_id, weight): weighted fair turns for an organisation.
--
-- An organisation of weight w (1 to 10) gets w turns for each turn of an organisation of weight 1
-- (sql/fairness/fair_turns.sql); null removes the row (weight 1). Applies to jobs enqueued from
-- now on. Returns the weight now in force. Callable by jobdeck_system and from TypeScript
-- (`jobdeck.setOrgWeight`).

create or replace function jobdeck.set_org_weight(org_id text, weight integer)
returns integer
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if org_id is null or pg_catalog.length(org_id) < 1 or pg_catalog.length(org_id) > 256 then
    raise exception 'org_id must be an organisation id of 1 to 256 characters, got %',
      coalesce(pg_catalog.quote_literal(org_id), 'null') using errcode = 'JD004';
  end if;
  if weight is not null and (weight < 1 or weight > 10) then
    raise exception 'weight for organisation "%" must be from 1 to 10, or null to remove it; got %',
      org_id, weight using errcode = 'JD004';
  end if;
  if weight is null then
    delete from jobdeck_private.org_weights w where w.org_id = set_org_weight.org_id;
  else
    insert into jobdeck_private.org_weights as w (org_id, weight)
    values (set_org_weight.org_id, set_org_weight.weight)
    on conflict on constraint org_weights_pkey do update set weight = excluded.weight, updated_at = pg_catalog.now()
     where w.weight is distinct from excluded.weight;
  end if;
  return coalesce(weight, 1);
end;
$$;
comment on function jobdeck.set_org_weight(text, integer) is
  'Weighted fair turns: this organisation gets weight (1 to 10) turns for each turn of a weight-1 organisation; null removes it. Errors: JD004 bad argument.';
revoke all on function jobdeck.set_org_weight(org_id text, weight integer) from public;
grant execute on function jobdeck.set_org_weight(org_id text, weight integer) to jobdeck_system;
