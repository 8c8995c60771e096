-- jobdeck_private.admit_rated(job_ids): which of these jobs the rate limits let start now, and when the others may.
--
-- The algorithm is GCRA (the generic cell rate algorithm) without burst, one bucket per rate
-- limit and key (jobdeck_private.rate_buckets; docs/recipes.md, "Rate limits"):
--   step = period / max_starts; a job may start at `now` when the bucket's tat <= now; a start
--   moves tat to greatest(tat, now) + step.
-- So starts of one bucket are at least `step` apart, and no window of length `period` holds more
-- than max_starts of them, whichever worker started them. A job under several limits (its type's,
-- its queue's) starts only when all allow it, and then takes a step from each.
--
-- Refused jobs get the time their turn comes, `next_at`: jobs are taken best first (priority,
-- run_at, created_at, id) and each refused one is given the next free step of its buckets, so a
-- batch of 30 jobs under 5 per second is spread over 6 seconds, not sent back all at one instant.
-- Those times are not reserved: when the job comes back it is checked again (a job enqueued in
-- between may have taken the step; it then waits one more).
--
-- The caller (start_jobs) holds the jobs' rows. Bucket rows are created when missing and locked
-- here in key order (scope, name, key), so two workers never deadlock on them and one bucket's
-- starts are decided one transaction at a time. Jobs without a rate limit are admitted.

create or replace function jobdeck_private.admit_rated(job_ids uuid[])
returns table (id uuid, admitted boolean, next_at timestamptz, reason text, first_wait boolean)
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
declare
  v_now    timestamptz := now();
  v_ids    text[] := '{}';
  v_scope  text[] := '{}';
  v_name   text[] := '{}';
  v_key    text[] := '{}';
  v_tat    timestamptz[] := '{}';
  v_next   timestamptz[] := '{}';
  v_step   interval[] := '{}';
  v_label  text[] := '{}';
  v_b      record;
  v_job    record;
  v_i      integer;
  v_ok     boolean;
  v_at     timestamptz;
  v_worst  integer;
  v_want   integer;
  v_try    integer := 0;
begin
  if coalesce(cardinality(job_ids), 0) = 0 then
    return;
  end if;

  -- Create the missing buckets, then lock them all. A bucket deleted in between (pruneJobs drops
  -- long-idle ones) is created again: go round until every bucket is locked.
  loop
    v_try := v_try + 1;
    v_ids := '{}'; v_scope := '{}'; v_name := '{}'; v_key := '{}'; v_tat := '{}'; v_next := '{}';
    v_step := '{}'; v_label := '{}';
    insert into jobdeck_private.rate_buckets as b (scope, name, key, tat)
    select m.scope, m.name, m.key, '-infinity'::timestamptz
      from (select distinct l.scope, l.name,
                   case when l.key_spec is null then '' else coalesce(j.rate_key, '') end as key
              from jobdeck.jobs j
              join jobdeck_private.rate_limits l
                on (l.scope = 'type' and l.name = j.type) or (l.scope = 'queue' and l.name = j.queue)
             where j.id = any(job_ids)) m
     order by m.scope, m.name, m.key
    on conflict do nothing;

    for v_b in
      select b.scope, b.name, b.key, b.tat, l.period / l.max_starts as step,
             format('%s "%s"%s (%s per %s s)', case l.scope when 'type' then 'task type' else 'queue' end, l.name,
                    case when l.key_spec is null then '' else format(' key "%s"', b.key) end, l.max_starts,
                    rtrim(to_char(extract(epoch from l.period), 'FM999999990.999'), '.')) as label
        from jobdeck_private.rate_buckets b
        join jobdeck_private.rate_limits l on l.scope = b.scope and l.name = b.name
       where (b.scope, b.name, b.key) in (
               select l2.scope, l2.name, case when l2.key_spec is null then '' else coalesce(j.rate_key, '') end
                 from jobdeck.jobs j
                 join jobdeck_private.rate_limits l2
                   on (l2.scope = 'type' and l2.name = j.type) or (l2.scope = 'queue' and l2.name = j.queue)
                where j.id = any(job_ids))
       order by b.scope, b.name, b.key
         for update of b
    loop
      v_ids := v_ids || (v_b.scope || chr(31) || v_b.name || chr(31) || v_b.key);
      v_scope := v_scope || v_b.scope;
      v_name := v_name || v_b.name;
      v_key := v_key || v_b.key;
      v_tat := v_tat || v_b.tat;
      v_next := v_next || greatest(v_b.tat, v_now);
      v_step := v_step || v_b.step;
      v_label := v_label || v_b.label;
    end loop;
    select count(*) into v_want
      from (select distinct l.scope, l.name, case when l.key_spec is null then '' else coalesce(j.rate_key, '') end
              from jobdeck.jobs j
              join jobdeck_private.rate_limits l
                on (l.scope = 'type' and l.name = j.type) or (l.scope = 'queue' and l.name = j.queue)
             where j.id = any(job_ids)) m;
    exit when cardinality(v_ids) >= v_want;
    if v_try >= 3 then
      raise exception 'rate limit buckets kept disappearing while being locked' using errcode = '40001';
    end if;
  end loop;

  for v_job in
    select j.id, (j.held_reason is null or j.held_reason not like 'rate limited:%') as first_wait,
           array(select array_position(v_ids, l.scope || chr(31) || l.name || chr(31)
                                              || case when l.key_spec is null then '' else coalesce(j.rate_key, '') end)
                   from jobdeck_private.rate_limits l
                  where (l.scope = 'type' and l.name = j.type) or (l.scope = 'queue' and l.name = j.queue)) as buckets
      from jobdeck.jobs j
     where j.id = any(job_ids)
     order by j.priority, j.run_at, j.created_at, j.id
  loop
    v_ok := true;
    v_at := v_now;
    v_worst := null;
    foreach v_i in array v_job.buckets loop
      if v_tat[v_i] > v_now then
        v_ok := false;
      end if;
      if v_worst is null or v_next[v_i] > v_at then
        v_at := greatest(v_at, v_next[v_i]);
        v_worst := v_i;
      end if;
    end loop;
    id := v_job.id;
    first_wait := v_job.first_wait;
    if v_ok then
      foreach v_i in array v_job.buckets loop
        v_tat[v_i] := greatest(v_tat[v_i], v_now) + v_step[v_i];
        v_next[v_i] := v_tat[v_i];
      end loop;
      admitted := true;
      next_at := null;
      reason := null;
    else
      foreach v_i in array v_job.buckets loop
        v_next[v_i] := greatest(v_next[v_i], v_at) + v_step[v_i];
      end loop;
      admitted := false;
      next_at := v_at;
      reason := format('rate limited: %s, next at %s', v_label[v_worst],
                       to_char(v_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
    end if;
    return next;
  end loop;

  update jobdeck_private.rate_buckets b
     set tat = u.tat
    from unnest(v_scope, v_name, v_key, v_tat) as u(scope, name, key, tat)
   where b.scope = u.scope and b.name = u.name and b.key = u.key and b.tat is distinct from u.tat;
end;
$$;
revoke all on function jobdeck_private.admit_rated(job_ids uuid[]) from public;
