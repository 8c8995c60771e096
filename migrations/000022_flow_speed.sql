-- jobdeck 000022: rate limits at their full rate (issue 20, "flow control").
--
-- A rate limit's bucket keeps two times now: `tat`, its next unused start slot, and
-- `reserved_to`, the slot the next job put back is told to come back at. Jobs a limit refuses
-- are handed successive slots (reserved_to, then one step later, ...), whichever worker refused
-- them, instead of all being told the bucket's next slot and colliding there; any job that was
-- put back may then use the next unused slot once it is due (sql/rate/admit_rated.sql).
-- '-infinity' (a bucket with nothing put back) means the same as tat.

alter table jobdeck_private.rate_buckets
  add column reserved_to timestamptz not null default '-infinity';
comment on column jobdeck_private.rate_buckets.reserved_to is
  'The slot the next job this limit puts back is given (its run_at); at least tat.';

-- Per-key rate limits on queues (jobdeck.set_queue_rate_limit's key_spec): a queue's limit may
-- now apply per key, as a task type's does. A job's key under its queue's limit is computed when
-- it is enqueued, like rate_key (its type's), and kept in queue_rate_key.
alter table jobdeck_private.rate_limits drop constraint key_spec_for_types;
alter table jobdeck.jobs add column queue_rate_key text;
comment on column jobdeck.jobs.queue_rate_key is
  'The job''s key under its queue''s per-key rate limit (set_queue_rate_limit key_spec), computed at enqueue.';
