-- jobdeck_private.graphile_queue(queue): the Graphile Worker queue name for a job of this queue.
--
-- A named queue runs its jobs one at a time: Graphile Worker's serial queue does that. A queue
-- with a concurrency limit runs up to its limit at once instead, so its jobs go to Graphile
-- Worker without a queue name and start_jobs enforces the limit (sql/concurrency/).

create or replace function jobdeck_private.graphile_queue(queue text) returns text
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select case when queue is null
                or exists (select 1 from jobdeck_private.concurrency_limits l
                            where l.scope = 'queue' and l.key = graphile_queue.queue)
              then null else queue end
$$;
revoke all on function jobdeck_private.graphile_queue(queue text) from public;
