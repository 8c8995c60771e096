import { run, type Runner } from 'graphile-worker';
import type { Config } from '../src/config.ts';
import { migrate } from '../src/db/migrate.ts';
import { createDb, createPool } from '../src/db/pool.ts';
import { enqueueJobOn } from '../src/jobs/enqueue.ts';
import { syncTaskTypes, type TaskRegistry } from '../src/jobs/registry.ts';
import { defineTask } from '../src/jobs/task.ts';
import { createLogger, makeWorkerLogger } from '../src/logger.ts';
import { startWorker } from '../src/worker/runner.ts';
import type { AddToStartSplit } from './results.ts';
import { percentile } from './stats.ts';

/** Resolves the next time a task of the bench starts. */
let onStart: (() => void) | null = null;
const started = () => new Promise<void>((resolve) => (onStart = resolve));

/** Worker settings shared by every scenario of the bench. */
export interface WorkerSettings {
  concurrency: number;
  localQueue: number;
}

/**
 * Add → start latency with an idle worker, one job at a time: from the enqueue call to the
 * moment the task body runs. jobdeck (enqueueJob, tracked) and raw Graphile Worker (add_job), both
 * with the bench's worker settings. The first 10 jobs of each warm up and are not counted.
 */
export async function addToStartLatency(
  jobdeckUrl: string,
  rawUrl: string,
  config: Config,
  samples: number,
  settings: WorkerSettings,
): Promise<{
  jobdeck: { p50: number; p99: number };
  raw: { p50: number; p99: number };
  split: { jobdeck: AddToStartSplit; raw: AddToStartSplit };
}> {
  // jobdeck
  const pool = createPool(jobdeckUrl, { max: 4 });
  await migrate(pool);
  const tasks: TaskRegistry = new Map([['ping', defineTask({ run: () => void onStart?.() })]]);
  await syncTaskTypes(createDb(pool), tasks, { maxAttempts: 3, maxPayloadBytes: 1 << 20 });
  const worker = await startWorker({
    connectionString: jobdeckUrl,
    tasks,
    config: {
      ...config,
      concurrency: settings.concurrency,
      localQueueSize: settings.localQueue,
      completeBatchDelayMs: 0,
      logLevel: 'error',
    },
    logger: createLogger('error'),
  });
  const tracked: number[] = [];
  const trackedEnqueue: number[] = [];
  try {
    for (let i = 0; i < samples + 10; i++) {
      const start = performance.now();
      const running = started();
      await enqueueJobOn(pool, 'ping', {});
      const enqueued = performance.now();
      await running;
      if (i >= 10) {
        tracked.push(performance.now() - start);
        trackedEnqueue.push(enqueued - start);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    await worker.stop();
    await pool.end();
  }
  // raw Graphile Worker
  const rawPool = createPool(rawUrl, { max: settings.concurrency + 4 });
  await migrate(rawPool);
  const runner: Runner = await run({
    pgPool: rawPool,
    taskList: { ping: async () => void onStart?.() },
    concurrency: settings.concurrency,
    noHandleSignals: true,
    logger: makeWorkerLogger('error'),
    preset: {
      worker: {
        localQueue: { size: settings.localQueue },
        completeJobBatchDelay: 0,
        failJobBatchDelay: 0,
      },
    },
  });
  const raw: number[] = [];
  const rawEnqueue: number[] = [];
  try {
    for (let i = 0; i < samples + 10; i++) {
      const start = performance.now();
      const running = started();
      await rawPool.query(`select graphile_worker.add_job('ping', '{}'::json)`);
      const enqueued = performance.now();
      await running;
      if (i >= 10) {
        raw.push(performance.now() - start);
        rawEnqueue.push(enqueued - start);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    await runner.stop();
    await rawPool.end();
  }
  return {
    jobdeck: { p50: percentile(tracked, 50), p99: percentile(tracked, 99) },
    raw: { p50: percentile(raw, 50), p99: percentile(raw, 99) },
    split: { jobdeck: split(tracked, trackedEnqueue), raw: split(raw, rawEnqueue) },
  };
}

/**
 * Where the add → start time goes: p50 of the enqueue call alone (jobdeck's enqueueJob, or
 * add_job, its commit included), and p50 of the rest, from its return until the task body runs.
 */
function split(totals: number[], enqueues: number[]): AddToStartSplit {
  return {
    enqueue_p50: percentile(enqueues, 50),
    start_p50: percentile(
      totals.map((total, i) => total - enqueues[i]!),
      50,
    ),
  };
}

/** Single `enqueueJob` calls, one after another, each its own transaction. */
export async function singleEnqueueRate(url: string, count: number): Promise<number> {
  const pool = createPool(url, { max: 2 });
  await migrate(pool);
  const tasks: TaskRegistry = new Map([['noop', defineTask({ run: () => undefined })]]);
  await syncTaskTypes(createDb(pool), tasks, { maxAttempts: 3, maxPayloadBytes: 1 << 20 });
  const start = performance.now();
  for (let i = 0; i < count; i++) await enqueueJobOn(pool, 'noop', {});
  const rate = count / ((performance.now() - start) / 1000);
  await pool.end();
  return rate;
}
