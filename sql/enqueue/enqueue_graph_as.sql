-- jobdeck_private.enqueue_graph_as(jobs, as_caller): enqueues a graph of dependent jobs, all or none.
-- requires: api/enqueue.sql api/enqueue_job.sql
--
-- The one implementation behind jobdeck.enqueue_graph (trusted callers: each job through
-- jobdeck.enqueue, owner and organisation as given) and jobdeck.enqueue_job_graph (API callers:
-- each job through jobdeck.enqueue_job, owner and organisation from the token, only the fields
-- enqueue_job takes). `jobs`: a JSON array of job specs with `ref` (a name unique in the call),
-- `dependsOn` (refs of this graph or ids of existing jobs) and `onDependencyFailure`. Jobs are
-- enqueued once everything they depend on in the graph has been (the order of the array does
-- not matter); when no job can go next, the rest depend on each other in a cycle and the call is
-- refused, naming their refs (JD004). Every error names the job's ref (`jobs.<ref>: …`). In the
-- caller's transaction: one refused job leaves nothing. Returns each ref with its job's id, in
-- the order of the array.

create or replace function jobdeck_private.enqueue_graph_as(jobs jsonb, as_caller boolean)
returns table (ref text, id uuid)
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_ids    jsonb := '{}';
  v_left   jsonb;
  v_spec   jsonb;
  v_ref    text;
  v_dep    text;
  v_deps   uuid[];
  v_job    jobdeck.jobs;
  v_moved  boolean;
  v_state  text;
  v_detail text;
  v_msg    text;
  v_field  text;
begin
  if jobs is null or pg_catalog.jsonb_typeof(jobs) <> 'array' or pg_catalog.jsonb_array_length(jobs) = 0 then
    raise exception 'jobs must be a non-empty array of job specs' using errcode = 'JD004';
  end if;
  if pg_catalog.jsonb_array_length(jobs) > 1000 then
    raise exception 'jobs may hold at most 1000 jobs, got %', pg_catalog.jsonb_array_length(jobs) using errcode = 'JD004';
  end if;
  for v_spec in select e.value from pg_catalog.jsonb_array_elements(jobs) e loop
    if pg_catalog.jsonb_typeof(v_spec) <> 'object' or pg_catalog.jsonb_typeof(v_spec -> 'ref') <> 'string'
       or pg_catalog.length(v_spec ->> 'ref') not between 1 and 200 then
      raise exception 'jobs: every job needs a ref, a name of 1 to 200 characters' using errcode = 'JD004';
    end if;
    if v_spec ? 'dependsOn' and pg_catalog.jsonb_typeof(v_spec -> 'dependsOn') not in ('array', 'null') then
      raise exception 'jobs.%: dependsOn must be an array of refs or job ids', v_spec ->> 'ref' using errcode = 'JD004';
    end if;
    select d.value into v_dep
      from pg_catalog.jsonb_array_elements_text(coalesce(nullif(v_spec -> 'dependsOn', 'null'), '[]')) d
     where not exists (select 1 from pg_catalog.jsonb_array_elements(jobs) o where o.value ->> 'ref' = d.value)
       and d.value !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
     limit 1;
    if found then
      raise exception 'jobs.%: dependsOn "%" is neither a ref of this call nor a job id', v_spec ->> 'ref', v_dep
        using errcode = 'JD004';
    end if;
  end loop;
  select e.value ->> 'ref' into v_ref from pg_catalog.jsonb_array_elements(jobs) e
   group by e.value ->> 'ref' having pg_catalog.count(*) > 1 limit 1;
  if v_ref is not null then
    raise exception 'jobs: ref "%" names two jobs', v_ref using errcode = 'JD004';
  end if;

  v_left := jobs;
  while pg_catalog.jsonb_array_length(v_left) > 0 loop
    v_moved := false;
    for v_spec in select e.value from pg_catalog.jsonb_array_elements(v_left) e loop
      v_ref := v_spec ->> 'ref';
      -- next when each dependency is enqueued already or is not a ref of this graph
      continue when exists (
        select 1 from pg_catalog.jsonb_array_elements_text(coalesce(nullif(v_spec -> 'dependsOn', 'null'), '[]')) d
         where not v_ids ? d.value
           and exists (select 1 from pg_catalog.jsonb_array_elements(jobs) o where o.value ->> 'ref' = d.value));
      begin
        v_deps := array(
          select case when v_ids ? d.value then (v_ids ->> d.value)::uuid
                      else d.value::uuid end
            from pg_catalog.jsonb_array_elements_text(coalesce(nullif(v_spec -> 'dependsOn', 'null'), '[]')) d);
        if as_caller then
          -- An API caller sets what enqueue_job takes; owner and organisation come from the token.
          select k into v_field from pg_catalog.jsonb_object_keys(v_spec) k
           where k not in ('ref', 'type', 'payload', 'priority', 'runAt', 'maxAttempts', 'key',
                           'dependsOn', 'onDependencyFailure')
           order by k limit 1;
          if v_field is not null then
            raise exception '% cannot be set through the API (it takes type, payload, priority, runAt, maxAttempts, key, dependsOn and onDependencyFailure)', v_field
              using errcode = 'JD004';
          end if;
          v_job := jobdeck.enqueue_job(
            type => v_spec ->> 'type',
            payload => coalesce(nullif(v_spec -> 'payload', 'null'), '{}'),
            priority => coalesce((v_spec ->> 'priority')::integer, 0),
            run_at => (v_spec ->> 'runAt')::timestamptz,
            max_attempts => (v_spec ->> 'maxAttempts')::integer,
            key => v_spec ->> 'key',
            depends_on => nullif(v_deps, '{}'),
            on_dependency_failure => v_spec ->> 'onDependencyFailure');
        else
          v_job := jobdeck.enqueue(
            type => v_spec ->> 'type',
            payload => coalesce(v_spec -> 'payload', '{}'),
            priority => coalesce((v_spec ->> 'priority')::integer, 0),
            run_at => (v_spec ->> 'runAt')::timestamptz,
            max_attempts => (v_spec ->> 'maxAttempts')::integer,
            key => v_spec ->> 'key',
            queue => v_spec ->> 'queue',
            owner_id => v_spec ->> 'ownerId',
            org_id => v_spec ->> 'orgId',
            related_type => v_spec ->> 'relatedType',
            related_id => v_spec ->> 'relatedId',
            metadata => coalesce(nullif(v_spec -> 'metadata', 'null'), '{}'),
            key_mode => coalesce(v_spec ->> 'keyMode', 'keep'),
            webhook_url => v_spec ->> 'webhookUrl',
            notify_email => case when pg_catalog.jsonb_typeof(v_spec -> 'notifyEmail') = 'array'
                                 then array(select pg_catalog.jsonb_array_elements_text(v_spec -> 'notifyEmail'))
                                 when pg_catalog.jsonb_typeof(v_spec -> 'notifyEmail') = 'string'
                                 then array[v_spec ->> 'notifyEmail'] end,
            notify_on => case when pg_catalog.jsonb_typeof(v_spec -> 'notifyOn') = 'array'
                              then array(select pg_catalog.jsonb_array_elements_text(v_spec -> 'notifyOn')) end,
            depends_on => nullif(v_deps, '{}'),
            on_dependency_failure => v_spec ->> 'onDependencyFailure');
        end if;
      exception when others then
        get stacked diagnostics v_state = returned_sqlstate, v_detail = pg_exception_detail, v_msg = message_text;
        raise exception using message = 'jobs.' || v_ref || ': ' || v_msg, errcode = v_state,
                              detail = coalesce(v_detail, '');
      end;
      v_ids := v_ids || pg_catalog.jsonb_build_object(v_ref, v_job.id);
      v_moved := true;
    end loop;
    v_left := coalesce((select pg_catalog.jsonb_agg(e.value) from pg_catalog.jsonb_array_elements(v_left) e
                         where not v_ids ? (e.value ->> 'ref')), '[]');
    if not v_moved then
      raise exception 'jobs: the dependencies of % form a cycle',
        (select pg_catalog.string_agg('"' || (e.value ->> 'ref') || '"', ', ' order by e.value ->> 'ref')
           from pg_catalog.jsonb_array_elements(v_left) e)
        using errcode = 'JD004';
    end if;
  end loop;
  return query select e.value ->> 'ref', (v_ids ->> (e.value ->> 'ref'))::uuid
                 from pg_catalog.jsonb_array_elements(jobs) with ordinality e order by e.ordinality;
end;
$$;
revoke all on function jobdeck_private.enqueue_graph_as(jobs jsonb, as_caller boolean) from public;
