-- jobdeck.pauses(): what is paused now, oldest first, with how many jobs each pause holds.
--
-- `key` is null for the pause of everything. `held` counts the waiting jobs held with this pause's
-- reason (a job covered by several pauses counts under the one its reason names). Callable by
-- jobdeck_system.

create or replace function jobdeck.pauses()
returns table (scope text, key text, reason text, paused_by text, paused_at timestamptz, held bigint)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select p.scope, nullif(p.key, ''), p.reason, p.paused_by, p.paused_at,
         (select count(*) from jobdeck.jobs j
           where j.held_at is not null and j.status in ('queued', 'retrying')
             and j.held_reason like 'paused:%'
             and (p.scope = 'all' or (p.scope = 'type' and j.type = p.key) or (p.scope = 'queue' and j.queue = p.key))
             and j.held_reason = (case p.scope when 'all' then 'paused: everything'
                                                when 'type' then format('paused: task type "%s"', p.key)
                                                else format('paused: queue "%s"', p.key) end
                                  || coalesce(' (' || p.reason || ')', '')))
    from jobdeck_private.pauses p
   order by p.paused_at, p.scope, p.key
$$;
comment on function jobdeck.pauses() is 'What is paused now (queues, task types, everything), with the number of jobs each holds.';
revoke all on function jobdeck.pauses() from public;
grant execute on function jobdeck.pauses() to jobdeck_system;
