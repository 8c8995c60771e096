-- jobdeck.queue_flow(queues): the flow-control settings of these queues, for jobStats.
--
-- Per queue name given: `concurrencyLimit` (set_queue_concurrency), `rateLimit` ({maxStarts,
-- periodMs, key}: key the key spec of a per-key limit, or null; set_queue_rate_limit), `fairness` ('org' or 'off' when set_queue_fairness set one,
-- else null: the task types' setting applies) and `paused` (the pause's reason text, or null).
-- SECURITY DEFINER because the settings live in jobdeck_private, which the request roles cannot
-- read; it answers only for the queues it is asked about, and job_stats asks only about the
-- queues of jobs the caller can see. Not exposed by GraphQL (src/graphql/schema-plugins.ts).
-- requires: pauses/pause_reason.sql

create or replace function jobdeck.queue_flow(queues text[]) returns jsonb
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(jsonb_object_agg(q.name, jsonb_build_object(
           'concurrencyLimit', (select c.max_running from jobdeck_private.concurrency_limits c
                                 where c.scope = 'queue' and c.key = q.name),
           'rateLimit', (select jsonb_build_object('maxStarts', r.max_starts,
                                                   'periodMs', round(extract(epoch from r.period) * 1000),
                                                   'key', r.key_spec)
                           from jobdeck_private.rate_limits r where r.scope = 'queue' and r.name = q.name),
           'fairness', (select f.fairness from jobdeck_private.queue_fairness f where f.queue = q.name),
           'paused', (select p.reason from jobdeck_private.pause_reason(null, q.name) p(reason)
                       where p.reason like 'paused: queue %' or p.reason like 'paused: everything%'))),
         '{}')
    from (select distinct x as name from unnest(queues) x where x is not null) q
$$;
comment on function jobdeck.queue_flow(text[]) is
  'Flow-control settings (concurrency limit, rate limit, fairness, pause) of the queues named.';
revoke all on function jobdeck.queue_flow(queues text[]) from public;
grant execute on function jobdeck.queue_flow(queues text[]) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
