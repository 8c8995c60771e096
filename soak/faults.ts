import type pg from 'pg';
import type { SoakCluster } from './cluster.ts';
import { killHard, type JobdeckProcess } from './processes.ts';
import {
  rescueProgress,
  stillWaiting,
  countNewSucceeded,
  leftBehind,
  terminateListeners,
  workersWithRunning,
} from './queries.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `read` until it answers; the database may be restarting. */
async function retrying<T>(read: () => Promise<T>, deadline: number): Promise<T> {
  for (;;) {
    try {
      return await read();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(250);
    }
  }
}

export interface KillResult {
  worker: string;
  worker_id: string;
  pid: number;
  killed_at: string;
  /** Jobs marked running on it at the kill (`jobdeck.jobs.worker_id`). */
  running_jobs: number;
  running_job_ids: string[];
  /** Graphile jobs it had locked (running, or waiting in its local queue). */
  locked_jobs: number;
  /** From the kill until the rescue released every one of its running jobs (none left `running` there). */
  released_seconds: number | null;
  /**
   * From the kill until every one of its running jobs ran or finished elsewhere; null = never.
   * Includes the wait behind the queued backlog once released.
   */
  rescue_seconds: number | null;
  /** When `rescue_seconds` is null: those jobs as they stood at the deadline, for a bug report. */
  still_waiting?: Record<string, unknown>[];
}

/**
 * kill -9 of the worker process with the most running jobs (waiting up to 30 s for one with at
 * least `minRunning`), then the time until each job it had running has been picked up again by
 * another worker or has finished there.
 */
export async function killBusiestWorker(
  pool: pg.Pool,
  workers: JobdeckProcess[],
  options: { minRunning: number; rescueTimeoutMs: number },
): Promise<KillResult> {
  const alive = () => workers.filter((w) => !w.exit);
  const waitUntil = Date.now() + 30_000;
  let victim: JobdeckProcess | undefined;
  let row: Awaited<ReturnType<typeof workersWithRunning>>[number] | undefined;
  while (!victim) {
    const rows = await workersWithRunning(
      pool,
      alive().map((w) => w.pid),
    );
    row = rows[0];
    if (row && (row.running >= options.minRunning || Date.now() > waitUntil))
      victim = alive().find((w) => w.pid === row!.pid);
    else await sleep(20);
  }
  const killedAt = killHard(victim);
  await victim.exited;
  const left = await leftBehind(pool, row!);
  const result: KillResult = {
    worker: victim.name,
    worker_id: row!.id,
    pid: victim.pid,
    killed_at: new Date(killedAt).toISOString(),
    running_jobs: left.running.length,
    running_job_ids: left.running,
    locked_jobs: left.locked,
    released_seconds: null,
    rescue_seconds: null,
  };
  const deadline = killedAt + options.rescueTimeoutMs;
  while (Date.now() < deadline) {
    const { held, waiting } = await rescueProgress(pool, left.running, row!.id, new Date(killedAt));
    const seconds = round((Date.now() - killedAt) / 1000);
    if (held === 0) result.released_seconds ??= seconds;
    if (waiting === 0) {
      result.rescue_seconds = seconds;
      break;
    }
    await sleep(100);
  }
  if (result.rescue_seconds === null)
    result.still_waiting = await stillWaiting(pool, left.running, row!.id, new Date(killedAt));
  return result;
}

export interface ListenerResult {
  at: string;
  /** Connections terminated, by application_name. */
  terminated: Record<string, number>;
}

/** pg_terminate_backend on every LISTEN connection (servers', workers', Graphile Worker's). */
export async function cutListeners(pool: pg.Pool): Promise<ListenerResult> {
  const at = new Date().toISOString();
  const rows = await terminateListeners(pool);
  const terminated: Record<string, number> = {};
  for (const row of rows) {
    const name = row.application_name || '(none)';
    terminated[name] = (terminated[name] ?? 0) + (row.terminated ? 1 : 0);
  }
  return { at, terminated };
}

export interface RestartResult {
  stopped_at: string;
  started_at: string;
  down_seconds: number;
  /**
   * Work went on: a job enqueued after PostgreSQL was back ran to success within
   * `recoverTimeoutMs` (an outcome of an older job written late does not count).
   */
  recovered: boolean;
  /** From PostgreSQL being back until the first such job succeeded. */
  first_new_job_succeeded_after_s: number | null;
  /** Worker and server processes that died between the stop and that first success. */
  processes_lost: string[];
}

/** Stops PostgreSQL, keeps it down `downMs`, starts it again, and waits for work to go on. */
export async function restartPostgres(
  cluster: SoakCluster,
  pool: pg.Pool,
  processes: () => JobdeckProcess[],
  options: { downMs: number; recoverTimeoutMs: number; lastSeq: () => number },
): Promise<RestartResult> {
  const before = new Set(
    processes()
      .filter((p) => !p.exit)
      .map((p) => p.name),
  );
  const { stoppedAt, startedAt } = await cluster.restart(options.downMs);
  const seqAtStart = options.lastSeq();
  const deadline = startedAt + options.recoverTimeoutMs;
  let firstSuccess: number | null = null;
  while (Date.now() < deadline) {
    const n = await retrying(
      () => countNewSucceeded(pool, new Date(startedAt), seqAtStart),
      deadline,
    ).catch(() => 0);
    if (n > 0) {
      firstSuccess = Date.now();
      break;
    }
    await sleep(100);
  }
  return {
    stopped_at: new Date(stoppedAt).toISOString(),
    started_at: new Date(startedAt).toISOString(),
    down_seconds: round((startedAt - stoppedAt) / 1000),
    recovered: firstSuccess !== null,
    first_new_job_succeeded_after_s:
      firstSuccess === null ? null : round((firstSuccess - startedAt) / 1000),
    processes_lost: processes()
      .filter((p) => before.has(p.name) && p.exit && !p.expectedExit)
      .map((p) => p.name),
  };
}

export function round(value: number, places = 2): number {
  const f = 10 ** places;
  return Math.round(value * f) / f;
}
