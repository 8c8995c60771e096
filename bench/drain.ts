/**
 * The drain scenarios: N no-op jobs are queued first (not timed), then one worker drains them in a
 * child process (bench/drain-child.ts) and the time until every job is stored as done is taken.
 * Raw Graphile Worker, jobdeck (fully tracked) and pg-boss each get a fresh database on the same
 * server and the same concurrency.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PgBoss, type WorkOptions } from 'pg-boss';
import { migrate } from '../src/db/migrate.ts';
import { createDb, createPool } from '../src/db/pool.ts';
import { enqueueJobsOn } from '../src/jobs/enqueue.ts';
import { WORKER_NODE_FLAGS } from '../src/worker/node-flags.ts';
import { syncTaskTypes, type TaskRegistry } from '../src/jobs/registry.ts';
import { defineTask } from '../src/jobs/task.ts';
import type { WorkerSettings } from './latency.ts';
import type { MachineCpu } from './cpu.ts';

export type DrainKind = 'raw' | 'jobdeck' | 'jobdeck_limited' | 'pgboss';

/**
 * The limit of the `jobdeck_limited` drain: a concurrency cap on the no-op task type far above
 * the worker's concurrency (50), so it never binds; it only sends every start through the slow
 * path (start_jobs, deciding the cap under its advisory lock) instead of the fast path
 * (begin_jobs reading the rows), which is what the drain then measures. A rate limit is not used:
 * GCRA without burst admits one start per bucket per start transaction (docs/recipes.md, "Rate
 * limits"), so any rate limit binds a batch-fetching worker.
 */
export const DRAIN_LIMIT = { maxConcurrent: 100_000 } as const;

/** What a drain child sends back. */
export interface DrainReport {
  seconds: number;
  /** The child's peak resident set size (the worker's, since it runs alone there). */
  peakRssMb: number;
  /** CPU time (user + system) the worker's process used while the drain was timed. */
  workerCpuSeconds: number;
  /**
   * CPU time the PostgreSQL server's processes used meanwhile (bench/cpu.ts); null when the
   * server runs elsewhere.
   */
  postgresCpuSeconds: number | null;
  /**
   * The whole machine's CPU time meanwhile (/proc/stat, every process and the kernel's work for
   * them); null where it cannot be read.
   */
  machineCpuSeconds: MachineCpu | null;
}

/** A drain's rate, its worker's peak RSS, and the CPU time it cost (DrainReport). */
export interface DrainResult {
  jobsPerSec: number;
  peakRssMb: number;
  workerCpuSeconds: number;
  postgresCpuSeconds: number | null;
  machineCpuSeconds: MachineCpu | null;
}

export const PGBOSS_QUEUE = 'noop';

/**
 * pg-boss's high-throughput settings from its docs: batch fetches of 100 jobs, several fetch
 * loops per process (`localConcurrency`), back-to-back fetches while batches come back full
 * (`burstWhenBatchFull`), and the shortest polling interval it accepts (0.5 s).
 */
export const PGBOSS_BATCH_SIZE = 100;
export const PGBOSS_LOCAL_CONCURRENCY = 4;
export const PGBOSS_WORK_OPTIONS = {
  batchSize: PGBOSS_BATCH_SIZE,
  localConcurrency: PGBOSS_LOCAL_CONCURRENCY,
  burstWhenBatchFull: true,
  pollingIntervalSeconds: 0.5,
} satisfies WorkOptions;

/** Queues `jobs` no-op jobs for raw Graphile Worker, 5,000 per add_jobs call. */
export async function queueRaw(url: string, jobs: number): Promise<void> {
  const pool = createPool(url, { max: 2 });
  try {
    await migrate(pool);
    for (let i = 0; i < jobs; i += 5000) {
      await pool.query(
        `select graphile_worker.add_jobs(array(select row('noop', '{}'::json, null, null, null, null, null, null)::graphile_worker.job_spec from generate_series(1, $1)))`,
        [Math.min(5000, jobs - i)],
      );
    }
  } finally {
    await pool.end();
  }
}

/**
 * Queues `jobs` tracked jobdeck jobs with enqueueJobs (1,000 per call); returns jobs/s. `limited`:
 * the task type is registered with DRAIN_LIMIT (the drain child registers it likewise).
 */
export async function queueJobdeck(url: string, jobs: number, limited = false): Promise<number> {
  const pool = createPool(url, { max: 2 });
  try {
    await migrate(pool);
    const tasks: TaskRegistry = new Map([
      ['noop', defineTask({ ...(limited ? DRAIN_LIMIT : {}), run: () => undefined })],
    ]);
    await syncTaskTypes(createDb(pool), tasks, { maxAttempts: 3, maxPayloadBytes: 1 << 20 });
    const started = performance.now();
    for (let i = 0; i < jobs; i += 1000) {
      const specs = Array.from({ length: Math.min(1000, jobs - i) }, () => ({
        type: 'noop',
        payload: {},
      }));
      await enqueueJobsOn(pool, specs);
    }
    return jobs / ((performance.now() - started) / 1000);
  } finally {
    await pool.end();
  }
}

/** Installs pg-boss in the database and queues `jobs` jobs with `insert` (5,000 per call). */
export async function queuePgBoss(url: string, jobs: number): Promise<void> {
  const boss = new PgBoss({ connectionString: url, max: 2, supervise: false, schedule: false });
  boss.on('error', (error) => console.error('pg-boss:', error));
  await boss.start();
  try {
    await boss.createQueue(PGBOSS_QUEUE);
    for (let i = 0; i < jobs; i += 5000) {
      await boss.insert(
        PGBOSS_QUEUE,
        Array.from({ length: Math.min(5000, jobs - i) }, () => ({ data: {} })),
      );
    }
  } finally {
    await boss.stop({ graceful: false });
  }
}

/**
 * Drains the queued jobs in a child process started with jobdeck's worker flags (WORKER_NODE_FLAGS);
 * resolves with jobs/s, the child's peak RSS and the CPU time the worker and PostgreSQL spent.
 * `script`: the child, bench/drain-child.ts or its compiled JavaScript.
 */
export function drainInChild(
  kind: DrainKind,
  url: string,
  jobs: number,
  settings: WorkerSettings,
  // The compiled child (bench/cli.ts BUILT_DRAIN_CHILD) runs the worker as an installed package
  // does; the source runs it through Node's type stripping, which holds about 28 MB more.
  script = fileURLToPath(new URL('./drain-child.ts', import.meta.url)),
): Promise<DrainResult> {
  const child = fork(
    script,
    [kind, url, String(jobs), String(settings.concurrency), String(settings.localQueue)],
    // Every worker, whichever system, runs with the flags of jobdeck's own worker command.
    { stdio: 'inherit', execArgv: [...process.execArgv, ...WORKER_NODE_FLAGS] },
  );
  return new Promise((resolve, reject) => {
    let report: DrainReport | null = null;
    child.on('message', (message) => (report = message as DrainReport));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (report)
        resolve({
          jobsPerSec: jobs / report.seconds,
          peakRssMb: report.peakRssMb,
          workerCpuSeconds: report.workerCpuSeconds,
          postgresCpuSeconds: report.postgresCpuSeconds,
          machineCpuSeconds: report.machineCpuSeconds,
        });
      else reject(new Error(`the ${kind} drain exited (${signal ?? code}) without a report`));
    });
  });
}
