-- jobdeck.set_queue_fairness(queue, fairness): whether a queue's jobs take turns by organisation.
--
-- 'org': new jobs of the queue take turns between organisations (sql/fairness/fair_turns.sql);
-- 'off': first-in first-out; null: remove the queue's setting, so the task type's
-- (defineTask({ fairness })) or the default ('org') applies. Wins over the task type's setting.
-- Applies to jobs enqueued from now on; waiting jobs keep the turn they were given. A row of
-- jobdeck_private.queue_fairness, so it holds across processes and restarts. Returns the setting
-- now in force for the queue (null: none of its own). Callable by jobdeck_system and from
-- TypeScript (`jobdeck.setQueueFairness`).

create or replace function jobdeck.set_queue_fairness(queue text, fairness text)
returns text
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if queue is null or pg_catalog.length(queue) < 1 or pg_catalog.length(queue) > 128 then
    raise exception 'queue must be a name of 1 to 128 characters, got %',
      coalesce(pg_catalog.quote_literal(queue), 'null') using errcode = 'JD004';
  end if;
  if fairness is not null and fairness not in ('org', 'off') then
    raise exception 'fairness for queue "%" must be ''org'', ''off'' or null to remove the setting; got %',
      queue, pg_catalog.quote_literal(fairness) using errcode = 'JD004';
  end if;
  if fairness is null then
    delete from jobdeck_private.queue_fairness f where f.queue = set_queue_fairness.queue;
  else
    insert into jobdeck_private.queue_fairness as f (queue, fairness)
    values (set_queue_fairness.queue, set_queue_fairness.fairness)
    on conflict on constraint queue_fairness_pkey do update set fairness = excluded.fairness, updated_at = pg_catalog.now()
     where f.fairness is distinct from excluded.fairness;
  end if;
  return fairness;
end;
$$;
comment on function jobdeck.set_queue_fairness(text, text) is
  'Whether new jobs of this queue take turns by organisation (org) or run first-in first-out (off); null removes the setting. Errors: JD004 bad argument.';
revoke all on function jobdeck.set_queue_fairness(queue text, fairness text) from public;
grant execute on function jobdeck.set_queue_fairness(queue text, fairness text) to jobdeck_system;
