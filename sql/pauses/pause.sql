-- jobdeck_private.pause(scope, key, reason, cancel_running, paused_by): pauses a queue, a task type or everything.
-- requires: pauses/pause_reason.sql control/cancel_job.sql
--
-- Checks every argument before changing anything (JD004 naming the argument), then, in one
-- transaction:
-- 1. writes the pause row (pausing again updates its reason and who; `paused_at` stays the first);
-- 2. with `cancel_running`, cancels the scope's running jobs through the ordinary cancel path
--    (jobdeck_private.cancel_job: a cancel request their workers hear), before any job row is
--    locked here, so the lock order stays limits before rows;
-- 3. holds the scope's waiting jobs at once (held_at, held_reason, a `paused:` event; their
--    Graphile jobs dropped), so the reason is on every row now and no worker fetches them again.
--    A Graphile job a worker has fetched already (locked) is left to that worker: its start_jobs
--    sees the pause and holds the job then. Jobs added later are held by the first worker that
--    fetches them (admit_jobs). Jobs a concurrency limit holds already get the pause's reason.
-- Returns the pause with the numbers of jobs held and cancel requests made.

create or replace function jobdeck_private.pause(scope text, key text, reason text, cancel_running boolean, paused_by text)
returns jsonb
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_key       text := coalesce(pause.key, '');
  v_row       jobdeck_private.pauses;
  v_id        uuid;
  v_cancelled integer := 0;
  v_held      integer := 0;
  v_reason    text;
begin
  if scope is null or scope not in ('queue', 'type', 'all') then
    raise exception 'scope must be "queue", "type" or "all", got %', coalesce(quote_literal(scope), 'null')
      using errcode = 'JD004';
  end if;
  if scope = 'all' then
    v_key := '';
  elsif length(v_key) < 1 or length(v_key) > 128 then
    raise exception '% must be a name of 1 to 128 characters, got %',
      case scope when 'queue' then 'queue' else 'task type' end, coalesce(quote_literal(pause.key), 'null')
      using errcode = 'JD004';
  end if;
  if reason is not null and (length(reason) < 1 or length(reason) > 1000) then
    raise exception 'reason must be 1 to 1000 characters (or null), got %', length(reason) using errcode = 'JD004';
  end if;
  if paused_by is not null and (length(paused_by) < 1 or length(paused_by) > 200) then
    raise exception 'paused_by must be 1 to 200 characters (or null), got %', length(paused_by) using errcode = 'JD004';
  end if;

  insert into jobdeck_private.pauses as p (scope, key, reason, paused_by)
  values (pause.scope, v_key, pause.reason, coalesce(pause.paused_by, session_user::text))
  on conflict on constraint pauses_pkey do update set reason = excluded.reason, paused_by = excluded.paused_by
  returning p.* into v_row;

  if cancel_running then
    for v_id in
      select j.id from jobdeck.jobs j
       where j.status = 'running' and j.cancel_requested_at is null
         and (pause.scope = 'all' or (pause.scope = 'type' and j.type = v_key)
              or (pause.scope = 'queue' and j.queue = v_key))
       order by j.id
    loop
      perform jobdeck_private.cancel_job(v_id, 'cancelled by the pause of ' ||
        case pause.scope when 'all' then 'everything' when 'type' then format('task type "%s"', v_key)
                         else format('queue "%s"', v_key) end || coalesce(': ' || pause.reason, ''));
      v_cancelled := v_cancelled + 1;
    end loop;
  end if;

  -- Rows whose Graphile job no worker has fetched: locked together (SKIP LOCKED: a row another
  -- transaction is changing is its business), and complete_jobs drops only unlocked Graphile jobs.
  with cand as (
    select j.id, j.gw_job_id
      from jobdeck.jobs j
      join graphile_worker._private_jobs g on g.id = j.gw_job_id
     where j.status in ('queued', 'retrying') and j.held_at is null and g.locked_at is null
       and (pause.scope = 'all' or (pause.scope = 'type' and j.type = v_key)
            or (pause.scope = 'queue' and j.queue = v_key))
     order by j.id
       for update of j, g skip locked
  ), dropped as (
    select c.id from graphile_worker.complete_jobs(array(select c.gw_job_id from cand c)) d
      join cand c on c.gw_job_id = d.id
  ), held as (
    update jobdeck.jobs j
       set held_at = now(), gw_job_id = null, updated_at = now(),
           held_reason = jobdeck_private.pause_reason(j.type, j.queue)
      from dropped d
     where j.id = d.id
    returning j.id, j.attempts, j.held_reason
  ), events as (
    insert into jobdeck.job_events (job_id, kind, level, message, attempt)
    select h.id, 'control', 'info', h.held_reason, h.attempts from held h
  )
  select count(*) into v_held from held;

  -- Jobs a concurrency limit held already now wait for the pause too: say so (release_held leaves
  -- paused jobs alone until the resume).
  update jobdeck.jobs j
     set held_reason = jobdeck_private.pause_reason(j.type, j.queue)
   where j.held_at is not null and j.status in ('queued', 'retrying')
     and j.held_reason is distinct from jobdeck_private.pause_reason(j.type, j.queue)
     and (pause.scope = 'all' or (pause.scope = 'type' and j.type = v_key)
          or (pause.scope = 'queue' and j.queue = v_key));

  return jsonb_build_object('scope', v_row.scope, 'key', nullif(v_row.key, ''), 'reason', v_row.reason,
                            'pausedBy', v_row.paused_by, 'pausedAt', v_row.paused_at,
                            'held', v_held, 'cancelled', v_cancelled);
end;
$$;
revoke all on function jobdeck_private.pause(scope text, key text, reason text, cancel_running boolean, paused_by text) from public;
