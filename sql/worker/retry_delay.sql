-- jobdeck_private.retry_delay(backoff, attempt): the wait before the next attempt.
--
-- After failed attempt number `attempt` (1-based), from the task type's backoff:
-- {"delaysMs": [...], "jitter": 0..1} or {"baseMs", "factor", "maxMs", "jitter"}; null = 2 s
-- doubling up to an hour, with 20 % jitter.

create or replace function jobdeck_private.retry_delay(backoff jsonb, attempt integer) returns interval
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_ms     float8;
  v_n      integer;
  v_jitter float8;
begin
  if backoff is not null and backoff ? 'delaysMs' then
    v_n := jsonb_array_length(backoff -> 'delaysMs');
    v_ms := (backoff -> 'delaysMs' ->> (least(greatest(attempt, 1), v_n) - 1))::float8;
    v_jitter := coalesce((backoff ->> 'jitter')::float8, 0);
  else
    v_ms := least(coalesce((backoff ->> 'maxMs')::float8, 3600000),
                  coalesce((backoff ->> 'baseMs')::float8, 2000)
                    * power(coalesce((backoff ->> 'factor')::float8, 2), least(greatest(attempt - 1, 0), 60)));
    v_jitter := coalesce((backoff ->> 'jitter')::float8, 0.2);
  end if;
  v_ms := greatest(0, v_ms * (1 + v_jitter * (2 * random() - 1)));
  return make_interval(secs => v_ms / 1000.0);
end;
$$;
revoke all on function jobdeck_private.retry_delay(backoff jsonb, attempt integer) from public;
