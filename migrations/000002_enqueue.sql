-- jobdeck 000002: payload validation and enqueue from SQL (any SQL, including triggers).
--
-- Business-rule errors carry their own SQLSTATEs so clients can tell them apart:
--   JD001 unknown job type        JD002 invalid payload        JD003 payload too large
--   JD004 invalid enqueue option  JD010 job not found          JD011 job state forbids it

-- A JSON Schema checker for the subset task payload schemas use (type, enum, const, properties,
-- required, additionalProperties, items, prefixItems, min/max/Length/Items/Properties, pattern,
-- minimum/maximum/exclusive*, multipleOf, anyOf/oneOf/allOf). Unknown keywords are ignored, as
-- JSON Schema itself does. Returns one readable message per problem, naming the field.
create function jobdeck_private.json_schema_errors(schema jsonb, doc jsonb, path text default 'payload')
returns text[]
language plpgsql immutable parallel safe as $$
declare
  errs   text[] := '{}';
  t      text := jsonb_typeof(doc);
  types  text[];
  k      text;
  sub    jsonb;
  i      integer;
  n      integer;
  matched integer;
  branch_errs text[];
  first_branch_errs text[];
  child_path text;
begin
  if schema is null or schema = 'true'::jsonb or schema = '{}'::jsonb then
    return errs;
  end if;
  if schema = 'false'::jsonb then
    return array[path || ': is not allowed'];
  end if;

  if schema ? 'type' then
    types := case jsonb_typeof(schema -> 'type')
      when 'array' then array(select jsonb_array_elements_text(schema -> 'type'))
      else array[schema ->> 'type'] end;
    if not (t = any (types)
            or (t = 'number' and 'integer' = any (types) and (doc::text)::numeric = trunc((doc::text)::numeric))) then
      return array[format('%s: expected %s, got %s', path, array_to_string(types, ' or '),
        case when t = 'number' and 'integer' = any (types) then 'a fraction' else t end)];
    end if;
  end if;

  if schema ? 'const' and doc is distinct from schema -> 'const' then
    errs := errs || format('%s: must be %s', path, schema -> 'const');
  end if;
  if schema ? 'enum' and not exists (select 1 from jsonb_array_elements(schema -> 'enum') e where e = doc) then
    errs := errs || format('%s: must be one of %s', path,
      (select string_agg(e::text, ', ') from jsonb_array_elements(schema -> 'enum') e));
  end if;

  if t = 'string' then
    n := char_length(doc #>> '{}');
    if schema ? 'minLength' and n < (schema ->> 'minLength')::int then
      errs := errs || format('%s: must be at least %s characters', path, schema ->> 'minLength');
    end if;
    if schema ? 'maxLength' and n > (schema ->> 'maxLength')::int then
      errs := errs || format('%s: must be at most %s characters', path, schema ->> 'maxLength');
    end if;
    if schema ? 'pattern' and not ((doc #>> '{}') ~ (schema ->> 'pattern')) then
      errs := errs || format('%s: must match %s', path, schema ->> 'pattern');
    end if;
  elsif t = 'number' then
    if schema ? 'minimum' and (doc::text)::numeric < (schema ->> 'minimum')::numeric then
      errs := errs || format('%s: must be >= %s', path, schema ->> 'minimum');
    end if;
    if schema ? 'maximum' and (doc::text)::numeric > (schema ->> 'maximum')::numeric then
      errs := errs || format('%s: must be <= %s', path, schema ->> 'maximum');
    end if;
    if jsonb_typeof(schema -> 'exclusiveMinimum') = 'number'
       and (doc::text)::numeric <= (schema ->> 'exclusiveMinimum')::numeric then
      errs := errs || format('%s: must be > %s', path, schema ->> 'exclusiveMinimum');
    end if;
    if jsonb_typeof(schema -> 'exclusiveMaximum') = 'number'
       and (doc::text)::numeric >= (schema ->> 'exclusiveMaximum')::numeric then
      errs := errs || format('%s: must be < %s', path, schema ->> 'exclusiveMaximum');
    end if;
    if schema ? 'multipleOf' and mod((doc::text)::numeric, (schema ->> 'multipleOf')::numeric) <> 0 then
      errs := errs || format('%s: must be a multiple of %s', path, schema ->> 'multipleOf');
    end if;
  elsif t = 'object' then
    if jsonb_typeof(schema -> 'required') = 'array' then
      for k in select jsonb_array_elements_text(schema -> 'required') loop
        if not doc ? k then
          errs := errs || format('%s: is required', jobdeck_private.json_path(path, k));
        end if;
      end loop;
    end if;
    for k, sub in select * from jsonb_each(doc) loop
      child_path := jobdeck_private.json_path(path, k);
      if jsonb_typeof(schema -> 'properties') = 'object' and schema -> 'properties' ? k then
        errs := errs || jobdeck_private.json_schema_errors(schema -> 'properties' -> k, sub, child_path);
      elsif schema ? 'additionalProperties' then
        if schema -> 'additionalProperties' = 'false'::jsonb then
          errs := errs || format('%s: is not an allowed field', child_path);
        else
          errs := errs || jobdeck_private.json_schema_errors(schema -> 'additionalProperties', sub, child_path);
        end if;
      end if;
    end loop;
    n := (select count(*) from jsonb_object_keys(doc));
    if schema ? 'minProperties' and n < (schema ->> 'minProperties')::int then
      errs := errs || format('%s: must have at least %s fields', path, schema ->> 'minProperties');
    end if;
    if schema ? 'maxProperties' and n > (schema ->> 'maxProperties')::int then
      errs := errs || format('%s: must have at most %s fields', path, schema ->> 'maxProperties');
    end if;
  elsif t = 'array' then
    n := jsonb_array_length(doc);
    if schema ? 'minItems' and n < (schema ->> 'minItems')::int then
      errs := errs || format('%s: must have at least %s items', path, schema ->> 'minItems');
    end if;
    if schema ? 'maxItems' and n > (schema ->> 'maxItems')::int then
      errs := errs || format('%s: must have at most %s items', path, schema ->> 'maxItems');
    end if;
    for i in 0 .. n - 1 loop
      if jsonb_typeof(schema -> 'prefixItems') = 'array' and i < jsonb_array_length(schema -> 'prefixItems') then
        errs := errs || jobdeck_private.json_schema_errors(schema -> 'prefixItems' -> i, doc -> i, path || '[' || i || ']');
      elsif jsonb_typeof(schema -> 'items') = 'object' or jsonb_typeof(schema -> 'items') = 'boolean' then
        errs := errs || jobdeck_private.json_schema_errors(schema -> 'items', doc -> i, path || '[' || i || ']');
      end if;
      exit when cardinality(errs) >= 20;
    end loop;
  end if;

  if jsonb_typeof(schema -> 'allOf') = 'array' then
    for sub in select jsonb_array_elements(schema -> 'allOf') loop
      errs := errs || jobdeck_private.json_schema_errors(sub, doc, path);
    end loop;
  end if;
  if jsonb_typeof(schema -> 'anyOf') = 'array' or jsonb_typeof(schema -> 'oneOf') = 'array' then
    matched := 0;
    first_branch_errs := null;
    for sub in select jsonb_array_elements(coalesce(schema -> 'anyOf', schema -> 'oneOf')) loop
      branch_errs := jobdeck_private.json_schema_errors(sub, doc, path);
      if cardinality(branch_errs) = 0 then
        matched := matched + 1;
      elsif first_branch_errs is null then
        first_branch_errs := branch_errs;
      end if;
    end loop;
    if matched = 0 then
      errs := errs || format('%s: does not match any allowed form (%s)', path,
        array_to_string(first_branch_errs, '; '));
    elsif schema ? 'oneOf' and matched > 1 then
      errs := errs || format('%s: matches more than one allowed form', path);
    end if;
  end if;
  return errs;
end;
$$;

create function jobdeck_private.json_path(parent text, key text) returns text
language sql immutable parallel safe as $$
  select case when key ~ '^[A-Za-z_][A-Za-z0-9_]*$' then parent || '.' || key
              else parent || '[' || to_json(key)::text || ']' end
$$;

-- Checks one job spec and raises the matching JDxxx error, its message starting with `label`
-- (e.g. `jobs[3]`) when given. Returns the max_attempts to use. Writes nothing.
create function jobdeck_private.check_job_spec(
  label text, type text, payload jsonb, priority integer, run_at timestamptz, max_attempts integer,
  key text, queue text, metadata jsonb
) returns integer
language plpgsql stable as $$
declare
  v_type   jobdeck_private.task_types;
  v_errors text[];
  v_size   integer;
  v_prefix text := coalesce(label || ': ', '');
begin
  if type is null or type = '' then
    raise exception '%job type is required', v_prefix using errcode = 'JD001';
  end if;
  select * into v_type from jobdeck_private.task_types t where t.type = check_job_spec.type;
  if not found then
    raise exception '%unknown job type "%"', v_prefix, left(type, 200) using errcode = 'JD001',
      hint = coalesce('known types: ' || (select string_agg(t.type, ', ' order by t.type) from jobdeck_private.task_types t),
                      'no task types are registered yet: run `jobdeck migrate` or start a worker');
  end if;
  if payload is null then
    raise exception '%payload must be JSON, not null', v_prefix using errcode = 'JD002';
  end if;
  v_size := octet_length(payload::text);
  if v_size > v_type.max_payload_bytes then
    raise exception '%payload of % bytes is over the % byte limit for job type "%"',
      v_prefix, v_size, v_type.max_payload_bytes, type using errcode = 'JD003';
  end if;
  v_errors := jobdeck_private.json_schema_errors(v_type.payload_schema, payload, 'payload');
  if cardinality(v_errors) > 0 then
    raise exception '%invalid payload for job type "%": %', v_prefix, type, array_to_string(v_errors[1:10], '; ')
      using errcode = 'JD002', detail = to_jsonb(v_errors)::text;
  end if;
  if priority is null or priority not between -32768 and 32767 then
    raise exception '%priority must be a whole number from -32768 to 32767, got %', v_prefix, coalesce(priority::text, 'null')
      using errcode = 'JD004';
  end if;
  if max_attempts is not null and max_attempts not between 1 and 32767 then
    raise exception '%max_attempts must be from 1 to 32767, got %', v_prefix, max_attempts using errcode = 'JD004';
  end if;
  if run_at is not null and not isfinite(run_at) then
    raise exception '%run_at must be a finite time', v_prefix using errcode = 'JD004';
  end if;
  if key is not null and length(key) not between 1 and 512 then
    raise exception '%key must be 1 to 512 characters', v_prefix using errcode = 'JD004';
  end if;
  if queue is not null and length(queue) not between 1 and 128 then
    raise exception '%queue must be 1 to 128 characters', v_prefix using errcode = 'JD004';
  end if;
  if metadata is null or jsonb_typeof(metadata) <> 'object' then
    raise exception '%metadata must be a JSON object', v_prefix using errcode = 'JD004';
  end if;
  return coalesce(max_attempts, v_type.max_attempts);
end;
$$;

-- Inserts an already checked job and hands it to Graphile Worker (payload `{jobdeckId}`; the
-- payload itself lives only in jobdeck.jobs).
create function jobdeck_private.insert_job(
  type text, payload jsonb, priority integer, run_at timestamptz, max_attempts integer, key text,
  queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb
) returns jobdeck.jobs
language plpgsql volatile as $$
declare
  v_id   uuid := gen_random_uuid();
  v_gw   bigint;
  v_job  jobdeck.jobs;
begin
  v_gw := (graphile_worker.add_job(
    identifier => insert_job.type,
    payload => json_build_object('jobdeckId', v_id),
    queue_name => insert_job.queue,
    run_at => insert_job.run_at,
    max_attempts => insert_job.max_attempts,
    priority => insert_job.priority
  )).id;
  insert into jobdeck.jobs as j (id, type, queue, priority, payload, max_attempts, run_at, owner_id, org_id,
                                 related_type, related_id, key, metadata, gw_job_id)
  values (v_id, insert_job.type, insert_job.queue, insert_job.priority, insert_job.payload, insert_job.max_attempts,
          coalesce(insert_job.run_at, now()), insert_job.owner_id, insert_job.org_id, insert_job.related_type,
          insert_job.related_id, insert_job.key, insert_job.metadata, v_gw)
  returning j.* into v_job;
  return v_job;
end;
$$;

-- Adds a checked job. With `key`, an unfinished job with the same key is returned instead of
-- adding a second one; a concurrent insert of the same key waits on the unique index, then lands in
-- the handler and returns the winner's job. Only keyed calls pay for the subtransaction.
create function jobdeck_private.add_checked_job(
  type text, payload jsonb, priority integer, run_at timestamptz, max_attempts integer, key text,
  queue text, owner_id text, org_id text, related_type text, related_id text, metadata jsonb
) returns jobdeck.jobs
language plpgsql volatile as $$
declare
  v_job jobdeck.jobs;
begin
  if key is null then
    return jobdeck_private.insert_job(type, payload, priority, run_at, max_attempts, null, queue, owner_id,
                                      org_id, related_type, related_id, metadata);
  end if;
  select * into v_job from jobdeck.jobs j
   where j.key = add_checked_job.key and j.status in ('queued', 'running', 'retrying');
  if found then
    return v_job;
  end if;
  begin
    return jobdeck_private.insert_job(type, payload, priority, run_at, max_attempts, key, queue, owner_id,
                                      org_id, related_type, related_id, metadata);
  exception when unique_violation then
    select * into v_job from jobdeck.jobs j
     where j.key = add_checked_job.key and j.status in ('queued', 'running', 'retrying');
    return v_job;
  end;
end;
$$;

-- Enqueues one job in the current transaction; callable from any SQL, including triggers.
create function jobdeck.enqueue(
  type text,
  payload jsonb default '{}',
  priority integer default 0,
  run_at timestamptz default null,
  max_attempts integer default null,
  key text default null,
  queue text default null,
  owner_id text default null,
  org_id text default null,
  related_type text default null,
  related_id text default null,
  metadata jsonb default '{}'
) returns jobdeck.jobs
language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  v_max integer;
begin
  v_max := jobdeck_private.check_job_spec(null, type, payload, priority, run_at, max_attempts, key, queue, metadata);
  return jobdeck_private.add_checked_job(type, payload, priority, run_at, v_max, key, queue, owner_id, org_id,
                                         related_type, related_id, metadata);
end;
$$;

comment on function jobdeck.enqueue is
  'Enqueue a tracked job in the current transaction. Errors: JD001 unknown type, JD002 invalid payload, JD003 payload too large, JD004 bad option.';

-- Enqueues many jobs at once: `specs` is a JSON array of objects with the fields of enqueue()
-- in camelCase or snake_case. All are checked before any is written; all or none are added.
-- Without keys, one add_jobs() call and one INSERT serve the whole batch.
create function jobdeck.enqueue_many(specs jsonb) returns setof jobdeck.jobs
language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  v_spec  jsonb;
  v_i     integer := 0;
  v_max   integer[] := '{}';
  v_int   jsonb;
  v_keyed boolean := false;
begin
  if specs is null or jsonb_typeof(specs) <> 'array' then
    raise exception 'jobs must be a JSON array of job specs' using errcode = 'JD004';
  end if;
  for v_spec in select jsonb_array_elements(specs) loop
    if jsonb_typeof(v_spec) <> 'object' then
      raise exception 'jobs[%]: must be an object like {"type": "...", "payload": {...}}', v_i using errcode = 'JD004';
    end if;
    foreach v_int in array array[v_spec -> 'priority', coalesce(v_spec -> 'maxAttempts', v_spec -> 'max_attempts')] loop
      if v_int is not null and v_int <> 'null'::jsonb
         and (jsonb_typeof(v_int) <> 'number' or (v_int::text)::numeric <> trunc((v_int::text)::numeric)
              or abs((v_int::text)::numeric) > 2147483647) then
        raise exception 'jobs[%]: priority and maxAttempts must be whole numbers, got %', v_i, v_int using errcode = 'JD004';
      end if;
    end loop;
    v_max := v_max || jobdeck_private.check_job_spec(
      'jobs[' || v_i || ']', v_spec ->> 'type', coalesce(v_spec -> 'payload', '{}'),
      coalesce((v_spec ->> 'priority')::integer, 0),
      (coalesce(v_spec ->> 'runAt', v_spec ->> 'run_at'))::timestamptz,
      (coalesce(v_spec ->> 'maxAttempts', v_spec ->> 'max_attempts'))::integer,
      v_spec ->> 'key', v_spec ->> 'queue', coalesce(v_spec -> 'metadata', '{}'));
    v_keyed := v_keyed or (v_spec ->> 'key') is not null;
    v_i := v_i + 1;
  end loop;

  if v_keyed then
    -- Keyed jobs dedupe one by one (see add_checked_job).
    v_i := 0;
    for v_spec in select jsonb_array_elements(specs) loop
      v_i := v_i + 1;
      return next jobdeck_private.add_checked_job(
        v_spec ->> 'type', coalesce(v_spec -> 'payload', '{}'), coalesce((v_spec ->> 'priority')::integer, 0),
        (coalesce(v_spec ->> 'runAt', v_spec ->> 'run_at'))::timestamptz, v_max[v_i], v_spec ->> 'key',
        v_spec ->> 'queue', coalesce(v_spec ->> 'ownerId', v_spec ->> 'owner_id'),
        coalesce(v_spec ->> 'orgId', v_spec ->> 'org_id'), coalesce(v_spec ->> 'relatedType', v_spec ->> 'related_type'),
        coalesce(v_spec ->> 'relatedId', v_spec ->> 'related_id'), coalesce(v_spec -> 'metadata', '{}'));
    end loop;
    return;
  end if;

  return query
  with s as materialized (
    select e.ord, gen_random_uuid() as id, e.spec ->> 'type' as type,
           coalesce(e.spec -> 'payload', '{}') as payload,
           coalesce((e.spec ->> 'priority')::integer, 0) as priority,
           (coalesce(e.spec ->> 'runAt', e.spec ->> 'run_at'))::timestamptz as run_at,
           v_max[e.ord] as max_attempts,
           e.spec ->> 'queue' as queue,
           coalesce(e.spec ->> 'ownerId', e.spec ->> 'owner_id') as owner_id,
           coalesce(e.spec ->> 'orgId', e.spec ->> 'org_id') as org_id,
           coalesce(e.spec ->> 'relatedType', e.spec ->> 'related_type') as related_type,
           coalesce(e.spec ->> 'relatedId', e.spec ->> 'related_id') as related_id,
           coalesce(e.spec -> 'metadata', '{}') as metadata
      from jsonb_array_elements(specs) with ordinality as e(spec, ord)
  ), gw as (
    select (g.payload ->> 'jobdeckId')::uuid as id, g.id as gw_job_id
      from graphile_worker.add_jobs(array(
        select row(s.type, json_build_object('jobdeckId', s.id), s.queue, s.run_at, s.max_attempts, null,
                   s.priority, null)::graphile_worker.job_spec
          from s order by s.ord)) as g
  ), ins as (
    insert into jobdeck.jobs as j (id, type, queue, priority, payload, max_attempts, run_at, owner_id, org_id,
                                   related_type, related_id, metadata, gw_job_id)
    select s.id, s.type, s.queue, s.priority, s.payload, s.max_attempts, coalesce(s.run_at, now()), s.owner_id,
           s.org_id, s.related_type, s.related_id, s.metadata, gw.gw_job_id
      from s join gw on gw.id = s.id
    returning j.*
  )
  select ins.* from ins join s on s.id = ins.id order by s.ord;
end;
$$;
