-- jobdeck_private.enqueue_batch(specs, on_complete, payload, owner_id, org_id): adds a batch of jobs, all or none.
-- requires: enqueue/enqueue_many.sql enqueue/check_job_spec.sql batches/notify_batches.sql
-- requires: start/forget_start_data.sql
--
-- Checks the batch (1 to 10,000 jobs, no dedupe keys, a known on-complete type whose payload is
-- valid once the outcome is added), adds the jobs through enqueue_many (which checks each spec
-- before writing any), then the batch row, then marks the jobs as the batch's. Jobs without an
-- owner or organisation take the batch's. Keys are refused: a deduplicated spec would return a
-- job that exists already, possibly finished or in another batch.
-- The jobs are marked by a second UPDATE rather than by enqueue_many itself, so the bulk
-- enqueue's hot path stays as it is; the update changes no status, so it neither counts nor
-- announces anything. Nothing is visible to workers before the caller's transaction commits.

create or replace function jobdeck_private.enqueue_batch(specs jsonb, on_complete text default null,
                                                         payload jsonb default '{}', owner_id text default null,
                                                         org_id text default null)
returns jobdeck.batches
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_batch jobdeck.batches;
  v_n     integer;
  v_ids   uuid[];
  v_gw    bigint[];
  v_bad   integer;
begin
  if specs is null or pg_catalog.jsonb_typeof(specs) <> 'array' then
    raise exception 'a batch must be a JSON array of job specs' using errcode = 'JD004';
  end if;
  v_n := pg_catalog.jsonb_array_length(specs);
  if v_n = 0 then
    raise exception 'a batch needs at least one job' using errcode = 'JD004';
  elsif v_n > 10000 then
    raise exception 'a batch holds at most 10000 jobs, got %', v_n using errcode = 'JD004';
  end if;
  select e.ord - 1 into v_bad
    from pg_catalog.jsonb_array_elements(specs) with ordinality as e(spec, ord)
   where pg_catalog.jsonb_typeof(e.spec) = 'object' and e.spec ->> 'key' is not null
   limit 1;
  if v_bad is not null then
    raise exception 'jobs[%]: a job of a batch cannot have a dedupe key', v_bad using errcode = 'JD004';
  end if;
  -- enqueue_many adds no webhooks or e-mail notifications: refuse them rather than drop them
  select e.ord - 1 into v_bad
    from pg_catalog.jsonb_array_elements(specs) with ordinality as e(spec, ord)
   where pg_catalog.jsonb_typeof(e.spec) = 'object'
     and coalesce(e.spec ->> 'webhookUrl', e.spec ->> 'webhook_url', e.spec ->> 'notifyEmail',
                  e.spec ->> 'notify_email') is not null
   limit 1;
  if v_bad is not null then
    raise exception 'jobs[%]: a job of a batch cannot have webhookUrl or notifyEmail (use on_complete)', v_bad
      using errcode = 'JD004';
  end if;
  if payload is null or pg_catalog.jsonb_typeof(payload) <> 'object' then
    raise exception 'the on-complete payload must be a JSON object' using errcode = 'JD004';
  end if;
  if on_complete is not null then
    -- as the on-complete job will be checked, with an outcome of the right shape
    perform jobdeck_private.check_job_spec('onComplete: ', on_complete,
      payload || pg_catalog.jsonb_build_object('batch', pg_catalog.jsonb_build_object(
        'id', pg_catalog.gen_random_uuid(), 'total', v_n, 'succeeded', 0, 'failed', 0, 'cancelled', 0)),
      0, null, null, null, null, '{}');
  end if;

  if owner_id is not null or org_id is not null then
    specs := (select pg_catalog.jsonb_agg(
                       case when pg_catalog.jsonb_typeof(e.spec) <> 'object' then e.spec
                            else pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                                   'ownerId', enqueue_batch.owner_id, 'orgId', enqueue_batch.org_id))
                                 || (e.spec - 'owner_id' - 'org_id' - 'ownerId' - 'orgId')
                                 || pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                                   'ownerId', coalesce(e.spec -> 'ownerId', e.spec -> 'owner_id'),
                                   'orgId', coalesce(e.spec -> 'orgId', e.spec -> 'org_id'))) end
                       order by e.ord)
                from pg_catalog.jsonb_array_elements(specs) with ordinality as e(spec, ord));
  end if;
  select pg_catalog.array_agg(j.id), pg_catalog.array_agg(j.gw_job_id) into v_ids, v_gw
    from jobdeck_private.enqueue_many(specs) j;

  insert into jobdeck.batches (owner_id, org_id, total, on_complete_type, on_complete_payload)
  values (owner_id, org_id, v_n, on_complete, payload)
  returning * into v_batch;
  update jobdeck.jobs j set batch_id = v_batch.id where j.id = any(v_ids);
  -- the batch id is not in the start data the jobs were enqueued with
  perform jobdeck_private.forget_start_data(v_gw);
  perform jobdeck_private.notify_batches(array[v_batch.id]);
  return v_batch;
end;
$$;
comment on function jobdeck_private.enqueue_batch(jsonb, text, jsonb, text, text) is
  'Enqueue jobs as one batch with aggregate progress and an optional on-complete job: all or none.';
revoke all on function jobdeck_private.enqueue_batch(specs jsonb, on_complete text, payload jsonb, owner_id text, org_id text) from public;
