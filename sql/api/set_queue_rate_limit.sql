-- jobdeck.set_queue_rate_limit(queue, max_starts, period, key_spec): at most max_starts jobs of a queue start per period.
-- requires: rate/reset_rate_limit.sql
--
-- Across every worker process: a row of jobdeck_private.rate_limits, enforced by start_jobs
-- (sql/rate/admit_rated.sql: GCRA, starts at least period / max_starts apart). Changeable at run
-- time: the next start decides under the new limit, and jobs waiting for their turn under the old
-- one try again at once. `max_starts` null removes the limit (period is then ignored); 0 or less,
-- a period under 1 ms or over 31 days are refused. Returns max_starts now in force (null for
-- none). Callable by jobdeck_system (the trusted SQL API) and from TypeScript
-- (`jobdeck.setQueueRateLimit`). `key_spec` (null, 'org', 'owner' or 'payload:<dotted path>') makes
-- the limit apply per key, each key with a budget of its own; a job's key is computed when it is
-- enqueued (jobs.queue_rate_key), so jobs already waiting share the key '' until they are enqueued
-- again, and a job whose key cannot be computed is refused at enqueue, naming the field.

drop function if exists jobdeck.set_queue_rate_limit(text, integer, interval);
create or replace function jobdeck.set_queue_rate_limit(queue text, max_starts integer, period interval,
                                                        key_spec text default null)
returns integer
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if queue is null or pg_catalog.length(queue) < 1 or pg_catalog.length(queue) > 128 then
    raise exception 'queue must be a name of 1 to 128 characters, got %',
      coalesce(pg_catalog.quote_literal(queue), 'null') using errcode = 'JD004';
  end if;
  if max_starts is not null and (max_starts < 1 or max_starts > 1000000) then
    raise exception 'max_starts for queue "%" must be from 1 to 1000000, or null to remove the rate limit; got %',
      queue, max_starts using errcode = 'JD004';
  end if;
  if max_starts is not null and (period is null or period < interval '1 millisecond' or period > interval '31 days') then
    raise exception 'period for queue "%" must be from 1 ms to 31 days, got %',
      queue, coalesce(period::text, 'null') using errcode = 'JD004';
  end if;
  if max_starts is not null and key_spec is not null and not (key_spec in ('org', 'owner')
       or (key_spec ~ '^payload:[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$' and pg_catalog.length(key_spec) <= 208)) then
    raise exception 'key_spec for queue "%" must be ''org'', ''owner'', ''payload:<dotted path>'' or null, got %',
      queue, pg_catalog.quote_literal(key_spec) using errcode = 'JD004';
  end if;
  if max_starts is null then
    delete from jobdeck_private.rate_limits l where l.scope = 'queue' and l.name = set_queue_rate_limit.queue;
  else
    insert into jobdeck_private.rate_limits as l (scope, name, max_starts, period, key_spec)
    values ('queue', set_queue_rate_limit.queue, set_queue_rate_limit.max_starts, set_queue_rate_limit.period,
            set_queue_rate_limit.key_spec)
    on conflict (scope, name) do update
      set max_starts = excluded.max_starts, period = excluded.period, key_spec = excluded.key_spec,
          updated_at = pg_catalog.now()
     where (l.max_starts, l.period, l.key_spec) is distinct from (excluded.max_starts, excluded.period, excluded.key_spec);
  end if;
  perform jobdeck_private.reset_rate_limit('queue', queue);
  return max_starts;
end;
$$;
comment on function jobdeck.set_queue_rate_limit(text, integer, interval, text) is
  'At most max_starts jobs of this queue start per period, across all workers, per key when key_spec is set; null removes the limit. Errors: JD004 bad argument.';
revoke all on function jobdeck.set_queue_rate_limit(queue text, max_starts integer, period interval, key_spec text) from public;
grant execute on function jobdeck.set_queue_rate_limit(queue text, max_starts integer, period interval, key_spec text) to jobdeck_system;
