-- jobdeck_private.admit_rated(job_ids): which of these jobs the rate limits let start now, and when the others may.
--
-- The algorithm is GCRA (the generic cell rate algorithm) with a grace, one bucket per rate limit
-- and key (jobdeck_private.rate_buckets; docs/recipes.md, "Rate limits"). A bucket's start slots
-- are `step` apart; `tat` is the next unused one. Each start uses one slot, starting no earlier
-- than the slot and at most `grace` after it:
--   grace = period / 20 (at least 50 ms, at most period / 2), step = (period + grace) / max_starts
-- Any window of length `period` then holds at most max_starts starts: their slots lie within a
-- span of period + grace, which holds max_starts slots. The grace absorbs the time a woken worker
-- needs to fetch and start its job, so starts do not drift later with every one (plain GCRA
-- without burst moves tat to now + step, adding each start's latency); the price is the ceiling
-- of the rate, max_starts / (period + grace): 47.6 per second for 50 per second.
--
-- A job that was put back is woken `lead` before its slot (least(4 × grace, 250 ms)): the time a
-- worker takes to fetch it, which under load is often more than the grace. It may be admitted
-- to a slot up to `lead` ahead; its `start_at` (the row's started_at) is then the slot, and the
-- worker runs it from then (src/worker/wrap-task.ts), so admission, not the fetch, decides when.
--
-- In one call (a worker's start batch, at the transaction's `now`), per bucket: slots more than
-- `grace` old are let go (tat := greatest(tat, now - grace)); then
--   * a job that a limit put back before (`rate limited:` held_reason) takes the slot tat when it
--     is not after now + lead, for every bucket it is under, and starts at greatest(now, slot)
--     (which must be within each bucket's grace); jobs put back go first, best first;
--   * a new job takes it only when no job put back is waiting for it (tat >= reserved_to), so
--     newcomers do not overtake the backlog; a batch may start several (the slots let go within
--     the grace: 3 at once for 50 per second);
--   * any other job is put back: told to come back at reserved_to (its run_at; start_jobs re-adds
--     its Graphile job for `wake_at`, lead earlier, and rate-wake.ts wakes the workers then), which
--     then moves one step. So
--     a backlog's jobs are given successive slots whichever worker saw them, and come back one by
--     one in time for them. A slot is not bound to the job told about it: whichever job put back
--     comes first uses it, so one late job does not lose its turn, and a job that finds every due
--     slot used (one was let go) is put back at the end once more.
-- A job under several limits (its type's, its queue's) starts only when all allow it. A per-key
-- limit's bucket is the job's key: rate_key for its type's limit, queue_rate_key for its queue's.
--
-- The caller (start_jobs) holds the jobs' rows. Bucket rows are created when missing and locked
-- here in key order (scope, name, key), so two workers never deadlock on them and one bucket's
-- starts are decided one transaction at a time. Jobs without a rate limit are admitted.

drop function if exists jobdeck_private.admit_rated(uuid[]);
create or replace function jobdeck_private.admit_rated(job_ids uuid[])
returns table (id uuid, admitted boolean, start_at timestamptz, next_at timestamptz, wake_at timestamptz,
               reason text, first_wait boolean)
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
  v_res    timestamptz[] := '{}';
  v_step   interval[] := '{}';
  v_grace  interval[] := '{}';
  v_lead   interval[] := '{}';
  v_wake   interval;
  v_label  text[] := '{}';
  v_b      record;
  v_job    record;
  v_i      integer;
  v_ok     boolean;
  v_slot   timestamptz;
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
    v_ids := '{}'; v_scope := '{}'; v_name := '{}'; v_key := '{}'; v_tat := '{}'; v_res := '{}';
    v_step := '{}'; v_grace := '{}'; v_lead := '{}'; v_label := '{}';
    insert into jobdeck_private.rate_buckets as b (scope, name, key, tat)
    select m.scope, m.name, m.key, '-infinity'::timestamptz
      from (select distinct l.scope, l.name,
                   case when l.key_spec is null then '' when l.scope = 'queue' then coalesce(j.queue_rate_key, '')
                        else coalesce(j.rate_key, '') end as key
              from jobdeck.jobs j
              join jobdeck_private.rate_limits l
                on (l.scope = 'type' and l.name = j.type) or (l.scope = 'queue' and l.name = j.queue)
             where j.id = any(job_ids)) m
     order by m.scope, m.name, m.key
    on conflict do nothing;

    for v_b in
      select b.scope, b.name, b.key, b.tat, b.reserved_to, g.grace,
             -- rounded up to the microsecond, so slots are never closer than the bound needs
             make_interval(secs => ceil(extract(epoch from l.period + g.grace) * 1000000 / l.max_starts) / 1000000)
               as step,
             format('%s "%s"%s (%s per %s s)', case l.scope when 'type' then 'task type' else 'queue' end, l.name,
                    case when l.key_spec is null then '' else format(' key "%s"', b.key) end, l.max_starts,
                    rtrim(to_char(extract(epoch from l.period), 'FM999999990.999'), '.')) as label
        from jobdeck_private.rate_buckets b
        join jobdeck_private.rate_limits l on l.scope = b.scope and l.name = b.name
        cross join lateral (
          select least(greatest(l.period / 20, interval '50 milliseconds'), l.period / 2) as grace) g
       where (b.scope, b.name, b.key) in (
               select l2.scope, l2.name, case when l2.key_spec is null then '' when l2.scope = 'queue' then coalesce(j.queue_rate_key, '')
                        else coalesce(j.rate_key, '') end
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
      v_res := v_res || v_b.reserved_to;
      v_step := v_step || v_b.step;
      v_grace := v_grace || v_b.grace;
      v_lead := v_lead || least(v_b.grace * 4, interval '250 milliseconds');
      v_label := v_label || v_b.label;
    end loop;
    select count(*) into v_want
      from (select distinct l.scope, l.name, case when l.key_spec is null then '' when l.scope = 'queue' then coalesce(j.queue_rate_key, '')
                        else coalesce(j.rate_key, '') end
              from jobdeck.jobs j
              join jobdeck_private.rate_limits l
                on (l.scope = 'type' and l.name = j.type) or (l.scope = 'queue' and l.name = j.queue)
             where j.id = any(job_ids)) m;
    exit when cardinality(v_ids) >= v_want;
    if v_try >= 3 then
      raise exception 'rate limit buckets kept disappearing while being locked' using errcode = '40001';
    end if;
  end loop;

  for v_i in 1 .. cardinality(v_tat) loop
    v_tat[v_i] := greatest(v_tat[v_i], v_now - v_grace[v_i]);
    v_res[v_i] := greatest(v_res[v_i], v_tat[v_i]);
  end loop;

  for v_job in
    select j.id, (j.held_reason is null or j.held_reason not like 'rate limited:%') as first_wait,
           array(select array_position(v_ids, l.scope || chr(31) || l.name || chr(31)
                                              || case when l.key_spec is null then '' when l.scope = 'queue' then coalesce(j.queue_rate_key, '')
                        else coalesce(j.rate_key, '') end)
                   from jobdeck_private.rate_limits l
                  where (l.scope = 'type' and l.name = j.type) or (l.scope = 'queue' and l.name = j.queue)) as buckets
      from jobdeck.jobs j
     where j.id = any(job_ids)
     order by coalesce(j.held_reason like 'rate limited:%', false) desc, j.priority, j.run_at, j.created_at, j.id
  loop
    id := v_job.id;
    first_wait := v_job.first_wait;
    v_ok := true;
    start_at := v_now;
    foreach v_i in array v_job.buckets loop
      if v_job.first_wait then
        -- a newcomer: a slot due now, and none a job put back waits for
        if v_tat[v_i] > v_now or v_tat[v_i] < v_res[v_i] then
          v_ok := false;
        end if;
      elsif v_tat[v_i] > v_now + v_lead[v_i] then
        v_ok := false;
      else
        start_at := greatest(start_at, v_tat[v_i]);
      end if;
    end loop;
    if v_ok then
      foreach v_i in array v_job.buckets loop
        if start_at > v_tat[v_i] + v_grace[v_i] then
          v_ok := false;  -- its buckets' slots lie too far apart to start within each one's grace
        end if;
      end loop;
    end if;
    if v_ok then
      foreach v_i in array v_job.buckets loop
        v_tat[v_i] := v_tat[v_i] + v_step[v_i];
        v_res[v_i] := greatest(v_res[v_i], v_tat[v_i]);
      end loop;
      admitted := true;
      start_at := case when start_at > v_now then start_at end;
      next_at := null;
      wake_at := null;
      reason := null;
    else
      v_slot := null;
      v_wake := interval '0';
      foreach v_i in array v_job.buckets loop
        if v_slot is null or v_res[v_i] > v_slot then
          v_slot := v_res[v_i];
          v_worst := v_i;
        end if;
        v_wake := greatest(v_wake, v_lead[v_i]);
      end loop;
      foreach v_i in array v_job.buckets loop
        v_res[v_i] := greatest(v_res[v_i], v_slot) + v_step[v_i];
      end loop;
      -- never before now: the slot may already be due (held by another job put back)
      v_slot := greatest(v_slot, v_now);
      admitted := false;
      start_at := null;
      next_at := v_slot;
      wake_at := greatest(v_slot - v_wake, v_now);
      reason := format('rate limited: %s, next at %s', v_label[v_worst],
                       to_char(v_slot at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
    end if;
    return next;
  end loop;

  update jobdeck_private.rate_buckets b
     set tat = u.tat, reserved_to = u.reserved_to
    from unnest(v_scope, v_name, v_key, v_tat, v_res) as u(scope, name, key, tat, reserved_to)
   where b.scope = u.scope and b.name = u.name and b.key = u.key
     and (b.tat, b.reserved_to) is distinct from (u.tat, u.reserved_to);
end;
$$;
revoke all on function jobdeck_private.admit_rated(job_ids uuid[]) from public;
