/**
 * A child process of `npm run bench` (see bench/drain.ts): drains the jobs already queued in one
 * database with one worker — raw Graphile Worker, jobdeck, or pg-boss — and reports how long the
 * drain took and its own peak RSS. Each worker runs alone in its process, so the peak RSS is the
 * worker's, not the bench's.
 *
 *   node bench/drain-child.ts <raw|jobdeck|jobdeck_limited|pgboss> <database url> <jobs> <concurrency> <local queue>
 */
import { run } from 'graphile-worker';
import { loadConfig } from '../src/config.ts';
import { createPool } from '../src/db/pool.ts';
import { defineTask } from '../src/jobs/task.ts';
import type { TaskRegistry } from '../src/jobs/registry.ts';
import { createLogger, makeWorkerLogger } from '../src/logger.ts';
import { startWorker } from '../src/worker/runner.ts';
import { machineCpuSeconds, postgresCpuSeconds, postgresIsLocal, postmasterOf } from './cpu.ts';
import {
  DRAIN_LIMIT,
  PGBOSS_QUEUE,
  PGBOSS_WORK_OPTIONS,
  type DrainKind,
  type DrainReport,
} from './drain.ts';

const [kind, url, jobsArg, concurrencyArg, localQueueArg] = process.argv.slice(2) as [
  DrainKind,
  string,
  string,
  string,
  string,
];
const jobs = Number(jobsArg);
const concurrency = Number(concurrencyArg);
const localQueue = Number(localQueueArg);
if (!url || !(jobs >= 1) || !(concurrency >= 1) || !(localQueue >= 0))
  throw new Error(
    'usage: drain-child.ts <raw|jobdeck|jobdeck_limited|pgboss> <url> <jobs> <concurrency> <queue>',
  );

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Task bodies count here; once all have run, the database is asked until the drain is stored. */
let ran = 0;
const checker = createPool(url, { max: 1, applicationName: 'bench-drain-check' });

/**
 * The server's postmaster, whose processes' CPU time is read here when the server runs on this
 * machine (null: elsewhere, or /proc cannot be read).
 */
const postmaster = postgresIsLocal(url)
  ? await postmasterOf(
      (await checker.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid,
    )
  : null;

/** The timed part of a drain: from the worker's start until every job is stored as done. */
type Window = Omit<DrainReport, 'peakRssMb'>;

/** Starts the timed window; the function it returns ends it. */
async function openWindow(): Promise<() => Promise<Window>> {
  const postgresBefore = postmaster === null ? null : await postgresCpuSeconds(postmaster);
  const machineBefore = await machineCpuSeconds();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  return async () => {
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const machineAfter = await machineCpuSeconds();
    const postgresAfter = postgresBefore === null ? null : await postgresCpuSeconds(postmaster!);
    return {
      seconds,
      workerCpuSeconds: (cpu.user + cpu.system) / 1e6,
      postgresCpuSeconds: postgresAfter === null ? null : postgresAfter - postgresBefore!,
      machineCpuSeconds:
        machineBefore && machineAfter
          ? {
              user: machineAfter.user - machineBefore.user,
              system: machineAfter.system - machineBefore.system,
            }
          : null,
    };
  };
}

async function drainedWhen(sql: string, params: unknown[] = []): Promise<void> {
  while (ran < jobs) await sleep(5);
  while ((await checker.query<{ n: number }>(sql, params)).rows[0]?.n !== 0) await sleep(5);
}

async function raw(): Promise<Window> {
  const pool = createPool(url, { max: concurrency + 4 });
  const closeWindow = await openWindow();
  const runner = await run({
    pgPool: pool,
    taskList: { noop: async () => void ran++ },
    concurrency,
    noHandleSignals: true,
    logger: makeWorkerLogger('error'),
    preset: {
      worker: {
        localQueue: { size: localQueue },
        completeJobBatchDelay: 0,
        failJobBatchDelay: 0,
      },
    },
  });
  await drainedWhen('select count(*)::int as n from graphile_worker.jobs');
  const window = await closeWindow();
  await runner.stop();
  await pool.end();
  return window;
}

/** `limited`: the task type carries DRAIN_LIMIT (a cap that never binds: the slow path's cost). */
async function jobdeck(limited = false): Promise<Window> {
  // Full tracking: queued → running → one progress update → succeeded.
  const tasks: TaskRegistry = new Map([
    [
      'noop',
      defineTask({
        ...(limited ? DRAIN_LIMIT : {}),
        run: async ({ progress }) => {
          ran++;
          await progress(50);
        },
      }),
    ],
  ]);
  const closeWindow = await openWindow();
  const worker = await startWorker({
    connectionString: url,
    tasks,
    config: {
      ...loadConfig({}),
      concurrency,
      localQueueSize: localQueue,
      completeBatchDelayMs: 0,
      logLevel: 'error',
    },
    logger: createLogger('error'),
  });
  await drainedWhen(`select count(*)::int as n from jobdeck.jobs where status <> 'succeeded'`);
  const window = await closeWindow();
  await worker.stop();
  return window;
}

async function pgBoss(): Promise<Window> {
  // Loaded here only, so the other workers' peak RSS does not include pg-boss.
  const { PgBoss } = await import('pg-boss');
  const boss = new PgBoss({ connectionString: url, max: concurrency + 4 });
  boss.on('error', (error) => console.error('pg-boss:', error));
  const closeWindow = await openWindow();
  await boss.start();
  await boss.work(PGBOSS_QUEUE, PGBOSS_WORK_OPTIONS, async (batch) => {
    ran += batch.length;
  });
  await drainedWhen(
    `select count(*)::int as n from pgboss.job where name = $1 and state <> 'completed'`,
    [PGBOSS_QUEUE],
  );
  const window = await closeWindow();
  await boss.stop({ graceful: true, timeout: 5000 });
  return window;
}

const drains: Record<DrainKind, () => Promise<Window>> = {
  raw,
  jobdeck: () => jobdeck(),
  jobdeck_limited: () => jobdeck(true),
  pgboss: pgBoss,
};
const drain = drains[kind];
if (!drain) throw new Error(`unknown drain kind ${String(kind)}`);
const window = await drain();
await checker.end();
const report: DrainReport = {
  ...window,
  // resourceUsage().maxRSS is the process's high-water mark (VmHWM), in kilobytes.
  peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
};
// Everything is closed; exit at once rather than wait on a library's stray timer.
process.send?.(report, () => process.exit(0));
