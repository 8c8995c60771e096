-- jobdeck_private.resume(scope, key): ends a pause and queues its held jobs again at once.
-- requires: pauses/pause_reason.sql concurrency/release_held.sql concurrency/release_all_held.sql
--
-- Deletes the pause row and, in the same transaction, releases the scope's held jobs through
-- release_held (admit_jobs decides again: a job another pause still covers, or over a concurrency
-- limit, stays held). Their new Graphile jobs wake the workers through Graphile Worker's own
-- NOTIFY (polling as the fallback), so they start at once. A job still held afterwards gets the
-- reason that holds it now. Resuming what is not paused changes nothing (`resumed` false).

create or replace function jobdeck_private.resume(scope text, key text)
returns jsonb
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_key      text := coalesce(resume.key, '');
  v_found    boolean;
  v_released integer := 0;
begin
  if scope is null or scope not in ('queue', 'type', 'all') then
    raise exception 'scope must be "queue", "type" or "all", got %', coalesce(quote_literal(scope), 'null')
      using errcode = 'JD004';
  end if;
  if scope = 'all' then
    v_key := '';
  elsif length(v_key) < 1 or length(v_key) > 128 then
    raise exception '% must be a name of 1 to 128 characters, got %',
      case scope when 'queue' then 'queue' else 'task type' end, coalesce(quote_literal(resume.key), 'null')
      using errcode = 'JD004';
  end if;

  delete from jobdeck_private.pauses p where p.scope = resume.scope and p.key = v_key;
  v_found := found;
  if v_found then
    v_released := case resume.scope
      when 'all' then jobdeck_private.release_all_held()
      when 'type' then jobdeck_private.release_held(null, array['type:' || v_key])
      else jobdeck_private.release_held(null, array['queue:' || v_key]) end;
    -- Those still held: say what holds them now (another pause, or a concurrency limit).
    update jobdeck.jobs j
       set held_reason = coalesce(jobdeck_private.pause_reason(j.type, j.queue),
                                  'held: waiting for room under a concurrency limit')
     where j.held_at is not null and j.status in ('queued', 'retrying') and j.held_reason like 'paused:%'
       and (resume.scope = 'all' or (resume.scope = 'type' and j.type = v_key)
            or (resume.scope = 'queue' and j.queue = v_key));
  end if;
  return jsonb_build_object('scope', resume.scope, 'key', nullif(v_key, ''), 'resumed', v_found,
                            'released', v_released);
end;
$$;
revoke all on function jobdeck_private.resume(scope text, key text) from public;
