-- jobdeck.batches_finished(batch): the batch's finished jobs (succeeded + failed + cancelled), GraphQL's Batch.finished.

create or replace function jobdeck.batches_finished(batch jobdeck.batches) returns integer
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select batch.succeeded + batch.failed + batch.cancelled
$$;
comment on function jobdeck.batches_finished(jobdeck.batches) is
  E'@fieldName finished\nJobs of the batch that finished: succeeded + failed + cancelled.';
revoke all on function jobdeck.batches_finished(batch jobdeck.batches) from public;
grant execute on function jobdeck.batches_finished(batch jobdeck.batches) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
