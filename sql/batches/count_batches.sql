-- jobdeck_private.count_batches(ids, succeeded, failed, cancelled): adds finishes to batches' counters.
-- requires: batches/notify_batches.sql enqueue/enqueue.sql
--
-- Called in the transaction that finishes (or un-finishes, on a retry) jobs of the batches, so
-- the counters always equal the jobs' committed statuses. Locks the batches' rows in id order, so
-- two statements finishing jobs of the same batches cannot deadlock on them. When a batch's
-- counts reach its total for the first time, its on-complete job is enqueued here, in the same
-- transaction, with the outcome added to its payload: exactly one, since the row lock
-- serialises the finishes and on_complete_job_id is set once. A retried job that finishes again
-- moves the counters again but enqueues no second on-complete job. An on-complete job the
-- enqueue refuses (its type removed meanwhile) is a warning, never a failed finish.

create or replace function jobdeck_private.count_batches(ids uuid[], succeeded integer[], failed integer[],
                                                         cancelled integer[])
returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_batch jobdeck.batches;
  v_job   jobdeck.jobs;
begin
  for v_batch in
    update jobdeck.batches b
       set succeeded = b.succeeded + d.succeeded, failed = b.failed + d.failed,
           cancelled = b.cancelled + d.cancelled, updated_at = pg_catalog.now(),
           finished_at = case when b.succeeded + d.succeeded + b.failed + d.failed + b.cancelled + d.cancelled
                                   = b.total then coalesce(b.finished_at, pg_catalog.now()) end
      from (select l.id, l.succeeded, l.failed, l.cancelled
              from rows from (pg_catalog.unnest(ids), pg_catalog.unnest(succeeded), pg_catalog.unnest(failed),
                              pg_catalog.unnest(cancelled)) as l(id, succeeded, failed, cancelled)
              join jobdeck.batches lb on lb.id = l.id
             order by l.id
               for update of lb) as d
     where b.id = d.id
    returning b.*
  loop
    if v_batch.finished_at is not null and v_batch.on_complete_type is not null
       and v_batch.on_complete_job_id is null then
      -- A refused on-complete job (its task type removed since the batch was enqueued, its
      -- schema changed) must not fail the finish of the last job: a warning, and no job.
      begin
        v_job := jobdeck_private.enqueue(
          v_batch.on_complete_type,
          v_batch.on_complete_payload || pg_catalog.jsonb_build_object('batch', pg_catalog.jsonb_build_object(
            'id', v_batch.id, 'total', v_batch.total, 'succeeded', v_batch.succeeded,
            'failed', v_batch.failed, 'cancelled', v_batch.cancelled)),
          owner_id => v_batch.owner_id, org_id => v_batch.org_id,
          related_type => 'batch', related_id => v_batch.id::pg_catalog.text);
        update jobdeck.batches b set on_complete_job_id = v_job.id where b.id = v_batch.id;
      exception when others then
        raise warning 'batch %: its on-complete job (%) was refused: %', v_batch.id,
          v_batch.on_complete_type, sqlerrm;
      end;
    end if;
  end loop;
  perform jobdeck_private.notify_batches(ids);
end;
$$;
comment on function jobdeck_private.count_batches(uuid[], integer[], integer[], integer[]) is
  'Add finished jobs to their batches'' counters; enqueue a batch''s on-complete job when its last job finishes.';
revoke all on function jobdeck_private.count_batches(ids uuid[], succeeded integer[], failed integer[], cancelled integer[]) from public;
