-- jobdeck.set_queue_concurrency(queue, max_running): at most this many jobs of a queue run at once.
-- requires: concurrency/release_held.sql
--
-- Across every worker process: a row of jobdeck_private.concurrency_limits, enforced by start_jobs
-- (sql/concurrency/). `max_running` null removes the limit; 0 is refused rather than read as "no
-- limit" or "paused" (a pause may come later and deserves its own name). A named queue without a
-- limit runs its jobs one at a time (Graphile Worker's serial queue); with one it runs up to the
-- limit at once, in priority order. Jobs already handed to Graphile Worker keep the way they were
-- added until their next attempt. Raising or removing a limit releases held jobs at once. Returns
-- the limit now in force (null for none). Callable by jobdeck_system (the trusted SQL API) and
-- from TypeScript (`jobdeck.setQueueConcurrency`, JOBDECK_QUEUE_CONCURRENCY).

create or replace function jobdeck.set_queue_concurrency(queue text, max_running integer)
returns integer
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if queue is null or pg_catalog.length(queue) < 1 or pg_catalog.length(queue) > 128 then
    raise exception 'queue must be a name of 1 to 128 characters, got %',
      coalesce(pg_catalog.quote_literal(queue), 'null') using errcode = 'JD004';
  end if;
  if max_running is not null and (max_running < 1 or max_running > 100000) then
    raise exception 'max_running for queue "%" must be from 1 to 100000, or null to remove the limit; got %',
      queue, max_running using errcode = 'JD004';
  end if;
  if max_running is null then
    delete from jobdeck_private.concurrency_limits l where l.scope = 'queue' and l.key = set_queue_concurrency.queue;
  else
    insert into jobdeck_private.concurrency_limits as l (scope, key, max_running)
    values ('queue', set_queue_concurrency.queue, set_queue_concurrency.max_running)
    on conflict (scope, key) do update set max_running = excluded.max_running, updated_at = pg_catalog.now()
     where l.max_running is distinct from excluded.max_running;
  end if;
  perform jobdeck_private.release_held(null, array['queue:' || queue]);
  return max_running;
end;
$$;
comment on function jobdeck.set_queue_concurrency(text, integer) is
  'At most max_running jobs of this queue run at once, across all workers; null removes the limit. Errors: JD004 bad argument.';
revoke all on function jobdeck.set_queue_concurrency(queue text, max_running integer) from public;
grant execute on function jobdeck.set_queue_concurrency(queue text, max_running integer) to jobdeck_system;
