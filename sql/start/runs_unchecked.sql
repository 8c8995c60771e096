-- jobdeck_private.runs_unchecked(type, queue, org_id): whether a job with these would start without
-- any flow rule looking at it now: no concurrency cap (per organisation, type, queue or key), no
-- rate limit and no pause covers it. It is begin_jobs' per-row test (worker/begin_jobs.sql),
-- asked at enqueue: only such a job carries its start data (start/start_data.sql).
--
-- `language sql`, one expression, no settings: the planner inlines it into the enqueue's
-- statements, so no `set search_path` (a SET clause stops inlining): every function it calls is
-- schema-qualified and every operator has operands of exact types (docs/security.md).
-- requires: concurrency/org_cap.sql

create or replace function jobdeck_private.runs_unchecked(type text, queue text, org_id text) returns boolean
language sql stable
as $$
  select (runs_unchecked.org_id is null
          or (jobdeck_private.org_cap() is null
              and not exists (select 1 from jobdeck_private.task_types t
                               where t.type = runs_unchecked.type and t.org_concurrency is not null)))
     and not exists (select 1 from jobdeck_private.task_types t
                      where t.type = runs_unchecked.type and t.key_concurrency is not null)
     and not exists (select 1 from jobdeck_private.concurrency_limits l
                      where (l.scope = 'type' and l.key = runs_unchecked.type)
                         or (l.scope = 'queue' and l.key = runs_unchecked.queue))
     and not exists (select 1 from jobdeck_private.rate_limits l
                      where (l.scope = 'type' and l.name = runs_unchecked.type)
                         or (l.scope = 'queue' and l.name = runs_unchecked.queue))
     and not exists (select 1 from jobdeck_private.pauses p
                      where (p.scope = 'all' and p.key = '')
                         or (p.scope = 'type' and p.key = runs_unchecked.type)
                         or (p.scope = 'queue' and p.key = runs_unchecked.queue))
$$;
revoke all on function jobdeck_private.runs_unchecked(type text, queue text, org_id text) from public;
