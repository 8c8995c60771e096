import { sql, type Kysely } from 'kysely';
import { readMigrations } from '../db/migrate.ts';
import type { Database } from '../db/types.ts';
import type { WaitReason } from './control.ts';
import {
  ACTIVE_STATUSES,
  FINISHED_STATUSES,
  type FinishedStatus,
  type JobStatus,
} from './states.ts';

/**
 * What `/readyz` and `/metrics` read from the database: cluster-wide figures, so they are meant
 * for a connection with the owner's rights (row-level security would show one user's share).
 */

/** The database answers (`select 1`); rejects when it does not. */
export async function pingDatabase(db: Kysely<Database>): Promise<void> {
  await db.selectNoFrom(sql<number>`1`.as('one')).execute();
}

/** The database's clock, as PostgreSQL prints it: to the microsecond, which a JS Date is not. */
export async function databaseNow(db: Kysely<Database>): Promise<string> {
  const row = await db.selectNoFrom(sql<string>`now()::text`.as('now')).executeTakeFirstOrThrow();
  return row.now;
}

/** The migrations shipped with this build, and those of them the database has not applied. */
export async function unappliedMigrations(
  db: Kysely<Database>,
): Promise<{ shipped: number; missing: string[] }> {
  const shipped = await readMigrations();
  const rows = await db.selectFrom('jobdeck_private.migrations').select('name').execute();
  const applied = new Set(rows.map((row) => row.name));
  return {
    shipped: shipped.length,
    missing: shipped.filter((file) => !applied.has(file.name)).map((file) => file.name),
  };
}

/** Worker processes by heartbeat: fresh, stale, and fresh and not stopping (able to take jobs). */
export interface WorkerCounts {
  alive: number;
  stale: number;
  ready: number;
}

/** Counts the worker processes; a heartbeat older than `staleMs` counts as gone. */
export async function countWorkers(db: Kysely<Database>, staleMs: number): Promise<WorkerCounts> {
  const since = sql<Date>`now() - make_interval(secs => ${staleMs / 1000})`;
  const row = await db
    .selectFrom('jobdeck_private.workers')
    .select((eb) => [
      eb.fn.countAll<string>().filterWhere('heartbeat_at', '>', since).as('alive'),
      eb.fn.countAll<string>().filterWhere('heartbeat_at', '<=', since).as('stale'),
      eb.fn
        .countAll<string>()
        .filterWhere((f) => f.and([f('heartbeat_at', '>', since), f('stopping_at', 'is', null)]))
        .as('ready'),
    ])
    .executeTakeFirstOrThrow();
  return { alive: Number(row.alive), stale: Number(row.stale), ready: Number(row.ready) };
}

/**
 * Jobs by status and type (and with `byOrg` organisation, `''` for jobs of none): the unfinished
 * ones now, the finished ones of the last hour.
 */
export async function countJobsByStatus(
  db: Kysely<Database>,
  options: { byOrg?: boolean } = {},
): Promise<{ status: JobStatus; type: string; org: string; n: number }[]> {
  const org = options.byOrg ? sql<string>`coalesce(org_id, '')` : sql<string>`''`;
  const counted = db
    .selectFrom('jobdeck.jobs')
    .select(['status', 'type', org.as('org'), sql<number>`count(*)::int`.as('n')])
    .groupBy(options.byOrg ? ['status', 'type', 'org_id'] : ['status', 'type']);
  return counted
    .where('status', 'in', ACTIVE_STATUSES)
    .unionAll(
      counted
        .where('status', 'in', FINISHED_STATUSES)
        .where('finished_at', '>', sql<Date>`now() - interval '1 hour'`),
    )
    .execute();
}

/**
 * Waiting jobs kept back, by why (`jobdeck.wait_reason`: paused, org_limit, key_limit,
 * concurrency_limit, rate_limit, task_rate_limit), type and queue (`''` for the default queue).
 */
export async function countHeldJobs(
  db: Kysely<Database>,
): Promise<{ reason: WaitReason; type: string; queue: string; n: number }[]> {
  const reason = sql<WaitReason>`jobdeck.wait_reason(held_at, held_reason)`;
  return db
    .selectFrom('jobdeck.jobs')
    .select([
      reason.as('reason'),
      'type',
      sql<string>`coalesce(queue, '')`.as('queue'),
      sql<number>`count(*)::int`.as('n'),
    ])
    .where('status', 'in', ['queued', 'retrying'])
    .where((eb) => eb.or([eb('held_at', 'is not', null), eb('held_reason', 'is not', null)]))
    .where(reason, 'is not', null)
    .groupBy([reason, 'type', 'queue'])
    .execute();
}

/** Why a waiting job is kept back, as `/metrics` labels it. */
export type WaitingReason = 'concurrency_limit' | 'rate_limit';

/**
 * Waiting jobs a limit keeps back, by reason: held by a concurrency limit (`held_at`, not a pause), or put
 * back by a rate limit or their task's RateLimitedError (`held_reason` `rate limited…`).
 */
export async function countWaitingByReason(
  db: Kysely<Database>,
): Promise<Record<WaitingReason, number>> {
  const row = await db
    .selectFrom('jobdeck.jobs')
    .select([
      sql<number>`count(*) filter (where held_at is not null and coalesce(held_reason, '') not like 'paused:%')::int`.as(
        'concurrency_limit',
      ),
      sql<number>`count(*) filter (where held_at is null and held_reason like 'rate limited%')::int`.as(
        'rate_limit',
      ),
    ])
    .where('status', 'in', ['queued', 'retrying'])
    .where((eb) => eb.or([eb('held_at', 'is not', null), eb('held_reason', 'is not', null)]))
    .executeTakeFirstOrThrow();
  return { concurrency_limit: row.concurrency_limit, rate_limit: row.rate_limit };
}

/** A finished job as the metrics observe it (durations in seconds). */
export interface FinishedJobFigures {
  id: string;
  type: string;
  status: FinishedStatus;
  attempts: number;
  manual_retries: number;
  /** PostgreSQL's text of the time, to the microsecond: the next call's watermark. */
  finished_at: string;
  /** Last attempt's run time; null when it never started. */
  run_s: number | null;
  /** Enqueue to start. */
  wait_s: number | null;
}

/** Jobs finished after the watermark `(at, id)`, oldest first, at most `limit`. */
export async function finishedJobsSince(
  db: Kysely<Database>,
  after: { at: string; id: string },
  limit: number,
): Promise<FinishedJobFigures[]> {
  const rows = await db
    .selectFrom('jobdeck.jobs')
    .select(['id', 'type', 'status', 'attempts', 'manual_retries'])
    .select([
      sql<string>`finished_at::text`.as('finished_at'),
      sql<number | null>`extract(epoch from finished_at - started_at)::float8`.as('run_s'),
      sql<number | null>`extract(epoch from started_at - created_at)::float8`.as('wait_s'),
    ])
    .where('status', 'in', FINISHED_STATUSES)
    // a row comparison: the builder has no tuple operand
    .where(sql<boolean>`(finished_at, id) > (${after.at}::timestamptz, ${after.id}::uuid)`)
    .orderBy('finished_at')
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows as FinishedJobFigures[];
}

/** The newest job event's id (0 with none): where a process's outcome counters start counting. */
export async function lastJobEventId(db: Kysely<Database>): Promise<string> {
  const row = await db
    .selectFrom('jobdeck.job_events')
    .select(sql<string>`coalesce(max(id), 0)::text`.as('id'))
    .executeTakeFirstOrThrow();
  return row.id;
}

/** The task types workers have registered (`jobdeck_private.task_types`). */
export async function knownTaskTypes(db: Kysely<Database>): Promise<string[]> {
  const rows = await db
    .selectFrom('jobdeck_private.task_types')
    .select('type')
    .orderBy('type')
    .execute();
  return rows.map((row) => row.type);
}

/** Outcomes of a job type, counted from its recorded transitions. */
export interface JobOutcomeCounts {
  type: string;
  /** Attempts that failed for good (a job failing again after a retry by hand counts again). */
  failed: number;
  cancelled: number;
  /** Automatic retries (into `retrying`) and retries by hand (failed or cancelled → queued). */
  retried: number;
}

/**
 * Outcomes per job type from the transitions recorded after job event `afterEventId`: what the
 * database recorded, so a figure does not depend on when (or how often) it is read. Reads the
 * events' primary-key range, then their jobs' types.
 */
export async function countJobOutcomesSince(
  db: Kysely<Database>,
  afterEventId: string,
): Promise<JobOutcomeCounts[]> {
  const to = sql<string>`e.data ->> 'to'`;
  const from = sql<string>`e.data ->> 'from'`;
  return db
    .selectFrom('jobdeck.job_events as e')
    .innerJoin('jobdeck.jobs as j', 'j.id', 'e.job_id')
    .where('e.id', '>', afterEventId)
    .where('e.kind', '=', 'transition')
    .select((eb) => [
      'j.type as type',
      eb.fn.countAll<number>().filterWhere(to, '=', 'failed').as('failed'),
      eb.fn.countAll<number>().filterWhere(to, '=', 'cancelled').as('cancelled'),
      eb.fn
        .countAll<number>()
        .filterWhere((f) =>
          f.or([
            f(to, '=', 'retrying'),
            f.and([f(to, '=', 'queued'), f(from, 'in', ['failed', 'cancelled'])]),
          ]),
        )
        .as('retried'),
    ])
    .groupBy('j.type')
    .execute()
    .then((rows) =>
      rows.map((row) => ({
        type: row.type,
        failed: Number(row.failed),
        cancelled: Number(row.cancelled),
        retried: Number(row.retried),
      })),
    );
}
