-- jobdeck_private.cancel_batch(batch_id, reason): cancels every unfinished job of a batch, without checking the caller.
-- requires: control/cancel_job.sql batches/count_batches.sql
--
-- Each job through cancel_job (queued and retrying at once, running ones through their worker,
-- whose finish then counts). The jobs' own counting is switched off for this batch meanwhile
-- (jobdeck.counting_batch) and the batch recounted once at the end under its row lock: taking
-- the batch's row at the first cancelled job and then the other jobs' rows would deadlock with a
-- worker that holds one of those jobs and waits for the batch's row.

create or replace function jobdeck_private.cancel_batch(batch_id uuid, reason text default null)
returns jobdeck.batches
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_batch jobdeck.batches;
  v_id    uuid;
  v_old   text := pg_catalog.current_setting('jobdeck.counting_batch', true);
  v_s     integer;
  v_f     integer;
  v_c     integer;
begin
  if batch_id is null then
    raise exception 'batch id is required' using errcode = 'JD004';
  end if;
  if not exists (select 1 from jobdeck.batches b where b.id = cancel_batch.batch_id) then
    raise exception 'batch % not found', batch_id using errcode = 'JD010';
  end if;
  perform pg_catalog.set_config('jobdeck.counting_batch', batch_id::pg_catalog.text, true);
  for v_id in
    select j.id from jobdeck.jobs j
     where j.batch_id = cancel_batch.batch_id and j.status in ('queued', 'retrying', 'running')
     order by j.id
  loop
    begin
      perform jobdeck_private.cancel_job(v_id, coalesce(reason, 'batch cancelled'));
    exception when sqlstate 'JD011' then
      null; -- finished meanwhile
    end;
  end loop;
  perform pg_catalog.set_config('jobdeck.counting_batch', coalesce(v_old, ''), true);

  select * into v_batch from jobdeck.batches b where b.id = cancel_batch.batch_id for update;
  select (pg_catalog.count(*) filter (where j.status = 'succeeded'))::integer,
         (pg_catalog.count(*) filter (where j.status = 'failed'))::integer,
         (pg_catalog.count(*) filter (where j.status = 'cancelled'))::integer
    into v_s, v_f, v_c
    from jobdeck.jobs j where j.batch_id = cancel_batch.batch_id;
  update jobdeck.batches b set cancel_requested_at = coalesce(b.cancel_requested_at, pg_catalog.now())
   where b.id = cancel_batch.batch_id;
  -- the difference goes through count_batches, which finishes the batch if it is now complete
  perform jobdeck_private.count_batches(array[batch_id], array[v_s - v_batch.succeeded],
                                        array[v_f - v_batch.failed], array[v_c - v_batch.cancelled]);
  select * into v_batch from jobdeck.batches b where b.id = cancel_batch.batch_id;
  return v_batch;
end;
$$;
comment on function jobdeck_private.cancel_batch(uuid, text) is
  'Cancel every unfinished job of a batch (running ones through their worker). Errors: JD010 not found.';
revoke all on function jobdeck_private.cancel_batch(batch_id uuid, reason text) from public;
