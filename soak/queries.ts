import pg from 'pg';
import { SOAK_TYPES } from './load.ts';

/**
 * The soak's SQL: its own schema, the live figures the run steers by, and the fault helpers.
 * Reads of jobdeck's tables go through the public schema and the workers table only.
 */

/**
 * The soak's own connections. Unlike jobdeck's pools it logs nothing when PostgreSQL goes away:
 * the soak does that on purpose.
 */
export function createSoakPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 4, application_name: 'jobdeck-soak' });
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/** The side-effect ledger: no unique constraint, so a re-run leaves a second row. */
export async function createSoakSchema(pool: pg.Pool): Promise<void> {
  await pool.query(`
    create schema if not exists soak;
    create table if not exists soak.side_effects (job_id uuid not null, attempt int not null, at timestamptz not null);
    create index if not exists side_effects_job_idx on soak.side_effects (job_id);
    create table if not exists soak.expected (seq int primary key);`);
}

/** Unfinished soak jobs (the partial active-jobs index keeps this cheap). */
export async function countUnfinished(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `select count(*)::int as n from jobdeck.jobs where status in ('queued', 'running', 'retrying')`,
  );
  return rows[0]!.n;
}

/**
 * Soak jobs numbered above `seq` that succeeded after `since`: with `seq` the last number handed
 * out at a restart, these were enqueued after it and ran to the end (the finished-jobs index
 * narrows the scan to recent finishes).
 */
export async function countNewSucceeded(pool: pg.Pool, since: Date, seq: number): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `select count(*)::int as n from jobdeck.jobs
      where status in ('succeeded', 'failed', 'cancelled') and finished_at > $1
        and status = 'succeeded' and (payload ->> 'seq')::int > $2`,
    [since, seq],
  );
  return rows[0]!.n;
}

export interface WorkerRow {
  id: string;
  pool_id: string | null;
  pid: number;
  running: number;
}

/** The soak's live workers (matched by pid) and how many jobs each has marked running. */
export async function workersWithRunning(pool: pg.Pool, pids: number[]): Promise<WorkerRow[]> {
  const { rows } = await pool.query<WorkerRow>(
    `select w.id, w.pool_id, w.pid,
            (select count(*)::int from jobdeck.jobs j where j.status = 'running' and j.worker_id = w.id) as running
       from jobdeck_private.workers w
      where w.pid = any($1::int[])
      order by running desc`,
    [pids],
  );
  return rows;
}

/** What a killed worker left behind: jobs it had marked running, Graphile jobs it had locked. */
export async function leftBehind(
  pool: pg.Pool,
  worker: WorkerRow,
): Promise<{ running: string[]; locked: number }> {
  const running = await pool.query<{ id: string }>(
    `select id from jobdeck.jobs where status = 'running' and worker_id = $1`,
    [worker.id],
  );
  const locked = await pool.query<{ n: number }>(
    `select count(*)::int as n from graphile_worker.jobs where locked_by = $1`,
    [worker.pool_id],
  );
  return { running: running.rows.map((r) => r.id), locked: locked.rows[0]!.n };
}

/**
 * Of `ids` (running on `workerId` when it was killed at `killedAt`): how many are still marked
 * running there (`held`: not released by the rescue yet), and how many are still waiting for
 * another worker (`waiting`: not running or finished elsewhere, and not finished before the kill).
 */
export async function rescueProgress(
  pool: pg.Pool,
  ids: string[],
  workerId: string,
  killedAt: Date,
): Promise<{ held: number; waiting: number }> {
  const { rows } = await pool.query<{ held: number; waiting: number }>(
    `select count(*) filter (where status = 'running' and worker_id = $2)::int as held,
            count(*) filter (where
              not (status in ('succeeded', 'failed', 'cancelled') and finished_at <= $3)
              and not (status in ('running', 'succeeded', 'failed', 'cancelled')
                       and worker_id is distinct from $2))::int as waiting
       from jobdeck.jobs where id = any($1::uuid[])`,
    [ids, workerId, killedAt],
  );
  return rows[0]!;
}

/** The jobs {@link rescueProgress} counts as `waiting`, with their Graphile Worker job. */
export async function stillWaiting(
  pool: pg.Pool,
  ids: string[],
  workerId: string,
  killedAt: Date,
): Promise<Record<string, unknown>[]> {
  const { rows } = await pool.query<Record<string, unknown>>(
    `select j.id, j.type, j.status, j.attempts, j.worker_id, j.run_at, j.gw_job_id, j.updated_at,
            (select to_jsonb(g) from (select g.id, g.locked_by, g.locked_at, g.run_at, g.attempts
                                        from graphile_worker.jobs g where g.id = j.gw_job_id) g) as gw_job
       from jobdeck.jobs j
      where j.id = any($1::uuid[])
        and not (j.status in ('succeeded', 'failed', 'cancelled') and j.finished_at <= $3)
        and not (j.status in ('running', 'succeeded', 'failed', 'cancelled')
                 and j.worker_id is distinct from $2)
      limit 10`,
    [ids, workerId, killedAt],
  );
  return rows;
}

/** Cuts every LISTEN connection: jobdeck's listeners and Graphile Worker's. */
export async function terminateListeners(
  pool: pg.Pool,
): Promise<{ pid: number; application_name: string; terminated: boolean }[]> {
  const { rows } = await pool.query<{ pid: number; application_name: string; terminated: boolean }>(
    `select pid, application_name, pg_terminate_backend(pid) as terminated
       from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid()
        and (application_name = 'jobdeck-listener' or query ilike 'listen%')`,
  );
  return rows;
}

export interface Verification {
  expected: number;
  present: number;
  missing: number;
  unfinished: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Finished, but not as its type should end (flaky: succeeded after at least one failure). */
  wrong_state: number;
  failed_expected: number;
  by_type: Record<string, { jobs: number; succeeded: number; mean_attempts: number }>;
  /** More than one job row for one soak number. */
  duplicate_jobs: number;
  /** Jobs whose enqueue was not acknowledged but which exist (answer lost, or a partial batch). */
  unacknowledged_found: number;
  duplicate_side_effects: number;
  jobs_with_duplicate_side_effects: number;
  /** Jobs with several side effects and no trace of a re-run in their history. */
  unexplained_duplicates: number;
  missing_side_effects: number;
  /** Attempts recorded as interrupted (`errors[].interrupted`): crash rescue and PG restarts. */
  interrupted_attempts: number;
  /** Interrupted attempts by the worker id the rescue named (`worker … stopped heartbeating`). */
  interrupted_by_worker: Record<string, number>;
  /** `requeued` control events: orphans given a new Graphile job. */
  orphans_requeued: number;
  /** Jobs that ran more attempts than their type needs (1, flaky 2). */
  jobs_rerun: number;
  /** Attempt errors other than flaky's planned failure and interruptions, by message (top 10). */
  other_errors: Record<string, number>;
  /** Evidence for a bug report: a few stuck jobs and re-runs without history, as stored. */
  samples: { stuck: unknown[]; unexplained_duplicates: unknown[] };
}

/** The final check: every committed job against what is in the database. */
export async function verify(
  pool: pg.Pool,
  committed: number[],
  unacknowledged: number[],
): Promise<Verification> {
  await pool.query('truncate soak.expected');
  await pool.query('insert into soak.expected (seq) select distinct unnest($1::int[])', [
    committed,
  ]);
  const soak = `select j.*, (j.payload ->> 'seq')::int as seq from jobdeck.jobs j where j.type = any($1)`;
  const main = await pool.query<
    Omit<Verification, 'by_type' | 'other_errors' | 'unacknowledged_found' | 'duplicate_jobs'> & {
      expected: number;
    }
  >(
    `with j as (${soak}),
          first as (select distinct on (seq) * from j order by seq, created_at)
     select count(*)::int as expected,
            count(f.id)::int as present,
            count(*) filter (where f.id is null)::int as missing,
            count(*) filter (where f.status in ('queued', 'running', 'retrying'))::int as unfinished,
            count(*) filter (where f.status = 'succeeded')::int as succeeded,
            count(*) filter (where f.status = 'failed')::int as failed,
            count(*) filter (where f.status = 'cancelled')::int as cancelled,
            count(*) filter (where f.status in ('succeeded', 'failed', 'cancelled')
              and not (f.status = 'succeeded' and (f.type <> 'flaky' or jsonb_array_length(f.errors) >= 1)))::int as wrong_state,
            count(*) filter (where f.type = 'flaky' and f.status = 'succeeded' and jsonb_array_length(f.errors) >= 1)::int as failed_expected,
            count(*) filter (where f.attempts > case when f.type = 'flaky' then 2 else 1 end)::int as jobs_rerun,
            coalesce(sum((select count(*) from jsonb_array_elements(f.errors) e where (e ->> 'interrupted')::boolean)), 0)::int as interrupted_attempts,
            count(*) filter (where f.type = 'side_effect' and f.status = 'succeeded'
              and not exists (select 1 from soak.side_effects s where s.job_id = f.id))::int as missing_side_effects
       from soak.expected e left join first f on f.seq = e.seq`,
    [SOAK_TYPES],
  );
  const byType = await pool.query<{
    type: string;
    jobs: number;
    succeeded: number;
    mean_attempts: number;
  }>(
    `with j as (${soak})
     select type, count(*)::int as jobs, count(*) filter (where status = 'succeeded')::int as succeeded,
            round(avg(attempts), 3)::float8 as mean_attempts
       from j group by type order by type`,
    [SOAK_TYPES],
  );
  const extra = await pool.query<{ duplicate_jobs: number; unacknowledged_found: number }>(
    `with j as (${soak})
     select (select coalesce(sum(n - 1), 0)::int from (select count(*) as n from j group by seq) d where n > 1) as duplicate_jobs,
            (select count(*)::int from j where seq = any($2::int[])) as unacknowledged_found`,
    [SOAK_TYPES, unacknowledged],
  );
  const effects = await pool.query<{
    duplicate_side_effects: number;
    jobs_with_duplicate_side_effects: number;
    unexplained_duplicates: number;
    orphans_requeued: number;
  }>(
    `with d as (select job_id, count(*) as n from soak.side_effects group by job_id having count(*) > 1)
     select coalesce(sum(d.n - 1), 0)::int as duplicate_side_effects,
            count(d.job_id)::int as jobs_with_duplicate_side_effects,
            count(d.job_id) filter (where not exists (
              select 1 from jobdeck.jobs j where j.id = d.job_id and j.attempts > 1)
              and not exists (select 1 from jobdeck.job_events v where v.job_id = d.job_id
                and v.kind = 'control' and v.message like 'requeued%'))::int as unexplained_duplicates,
            (select count(*)::int from jobdeck.job_events v where v.kind = 'control' and v.message like 'requeued%') as orphans_requeued
       from d`,
  );
  const errors = await pool.query<{ message: string; n: number }>(
    `with j as (${soak})
     select left(regexp_replace(e ->> 'message', '[0-9a-f-]{36}|[0-9]+', '#', 'g'), 160) as message, count(*)::int as n
       from j, jsonb_array_elements(j.errors) e
      where not coalesce((e ->> 'interrupted')::boolean, false)
        and (e ->> 'message') not like 'soak flaky job % planned first-attempt failure'
      group by 1 order by 2 desc limit 10`,
    [SOAK_TYPES],
  );
  const stuck = await pool.query(
    `with j as (${soak})
     select j.seq, j.id, j.type, j.status, j.attempts, j.worker_id, j.gw_job_id, j.updated_at,
            j.started_at, jsonb_array_length(j.errors) as errors,
            (select w.heartbeat_at from jobdeck_private.workers w where w.id = j.worker_id) as worker_heartbeat_at,
            (select to_jsonb(g) from (select g.id, g.locked_by, g.locked_at, g.attempts, g.run_at, g.last_error,
                    (select jsonb_build_object('id', w.id, 'pid', w.pid, 'heartbeat_at', w.heartbeat_at)
                       from jobdeck_private.workers w where w.pool_id = g.locked_by) as locking_worker
               from graphile_worker.jobs g where g.id = j.gw_job_id) g) as graphile_job,
            (select jsonb_agg(jsonb_build_object('at', v.at, 'kind', v.kind, 'message', v.message, 'attempt', v.attempt) order by v.id)
               from jobdeck.job_events v where v.job_id = j.id) as events
       from j where j.status in ('queued', 'running', 'retrying')
      order by j.status, j.seq limit 8`,
    [SOAK_TYPES],
  );
  const reruns = await pool.query(
    `with d as (select job_id from soak.side_effects group by job_id having count(*) > 1)
     select j.id, j.type, j.status, j.attempts, j.worker_id, j.errors,
            (select jsonb_agg(jsonb_build_object('attempt', s.attempt, 'at', s.at) order by s.at)
               from soak.side_effects s where s.job_id = j.id) as side_effects,
            (select jsonb_agg(jsonb_build_object('at', v.at, 'kind', v.kind, 'message', v.message, 'attempt', v.attempt) order by v.id)
               from jobdeck.job_events v where v.job_id = j.id) as events
       from d join jobdeck.jobs j on j.id = d.job_id
      where j.attempts <= 1 and not exists (select 1 from jobdeck.job_events v where v.job_id = j.id
              and v.kind = 'control' and v.message like 'requeued%')
      limit 5`,
  );
  const interrupted = await pool.query<{ worker: string; n: number }>(
    `with j as (${soak})
     select coalesce(substring(e ->> 'message' from '^worker (\\S+) stopped'), '?') as worker, count(*)::int as n
       from j, jsonb_array_elements(j.errors) e
      where coalesce((e ->> 'interrupted')::boolean, false)
      group by 1 order by 2 desc`,
    [SOAK_TYPES],
  );
  return {
    ...main.rows[0]!,
    interrupted_by_worker: Object.fromEntries(interrupted.rows.map((r) => [r.worker, r.n])),
    samples: { stuck: stuck.rows, unexplained_duplicates: reruns.rows },
    by_type: Object.fromEntries(
      byType.rows.map((r) => [
        r.type,
        { jobs: r.jobs, succeeded: r.succeeded, mean_attempts: r.mean_attempts },
      ]),
    ),
    ...extra.rows[0]!,
    ...effects.rows[0]!,
    other_errors: Object.fromEntries(errors.rows.map((r) => [r.message, r.n])),
  };
}
