-- jobdeck.batches_percent(batch): whole percent of the batch's jobs finished, GraphQL's Batch.percent.
--
-- floor(100 · finished / total), as TypeScript's batchPercent(): 100 only once every job finished.

create or replace function jobdeck.batches_percent(batch jobdeck.batches) returns integer
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select (100 * (batch.succeeded + batch.failed + batch.cancelled)) / batch.total
$$;
comment on function jobdeck.batches_percent(jobdeck.batches) is
  E'@fieldName percent\nWhole percent of the batch''s jobs finished (any outcome).';
revoke all on function jobdeck.batches_percent(batch jobdeck.batches) from public;
grant execute on function jobdeck.batches_percent(batch jobdeck.batches) to jobdeck_anonymous, jobdeck_user, jobdeck_admin, jobdeck_system;
