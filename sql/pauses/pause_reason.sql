-- jobdeck_private.pause_reason(type, queue): why a job of this type and queue may not start, or null.
--
-- The first pause that covers it, everything first, then its task type, then its queue:
-- `paused: everything`, `paused: task type "x"`, `paused: queue "q"`, each followed by the pause's
-- reason in parentheses when it has one. The text held jobs carry (held_reason and their event).

create or replace function jobdeck_private.pause_reason(type text, queue text) returns text
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select case p.scope when 'all' then 'paused: everything'
                      when 'type' then format('paused: task type "%s"', p.key)
                      else format('paused: queue "%s"', p.key) end
         || coalesce(' (' || p.reason || ')', '')
    from jobdeck_private.pauses p
   where (p.scope = 'all' and p.key = '')
      or (p.scope = 'type' and p.key = pause_reason.type)
      or (p.scope = 'queue' and p.key = pause_reason.queue)
   order by case p.scope when 'all' then 0 when 'type' then 1 else 2 end
   limit 1
$$;
revoke all on function jobdeck_private.pause_reason(type text, queue text) from public;
