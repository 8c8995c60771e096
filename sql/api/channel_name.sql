-- jobdeck.channel_name(kind, id): the NOTIFY channel for a job, an owner or an organisation.
--
-- Channel names are at most 63 bytes; long ids are hashed so every channel stays valid.
-- Hidden from GraphQL (@behavior -*).

create or replace function jobdeck.channel_name(kind text, id text) returns text
language sql immutable parallel safe
as $$
  select case
    when octet_length('jobdeck:' || kind || ':' || id) <= 63 then 'jobdeck:' || kind || ':' || id
    else 'jobdeck:' || kind || ':#' || md5(id)
  end
$$;
comment on function jobdeck.channel_name(text, text) is '@behavior -*';
revoke all on function jobdeck.channel_name(kind text, id text) from public;
