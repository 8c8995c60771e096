import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { run, parseCrontab, type Runner, type TaskList } from 'graphile-worker';
import type { Config } from '../config.ts';
import { createDb, createPool } from '../db/pool.ts';
import { createLogger, makeWorkerLogger, type Logger } from '../logger.ts';
import { syncTaskTypes, type TaskRegistry } from '../jobs/registry.ts';
import { Tracker } from './tracker.ts';
import { wrapTask } from './wrap-task.ts';

export interface WorkerOptions {
  connectionString: string;
  tasks: TaskRegistry;
  config: Pick<
    Config,
    | 'concurrency'
    | 'localQueueSize'
    | 'pollIntervalMs'
    | 'completeBatchDelayMs'
    | 'flushIntervalMs'
    | 'defaultMaxAttempts'
    | 'maxPayloadBytes'
    | 'logLevel'
  >;
  /** Crontab text (Graphile Worker's format). Takes precedence over `crontabFile`. */
  crontab?: string;
  /** Path of a crontab file; a missing file means no schedules. */
  crontabFile?: string;
  logger?: Logger;
}

/** A running worker process's handle. */
export interface JobdeckWorker {
  /** This process's worker id, recorded on the jobs it runs. */
  readonly id: string;
  /** Stops fetching, lets running jobs finish, flushes tracking writes, closes connections. */
  stop(): Promise<void>;
  /** Settles when the worker has stopped (rejects if it crashed). */
  readonly promise: Promise<void>;
}

/** Reads a crontab file, checking that every line names a known task. */
export function readCrontab(file: string, tasks: TaskRegistry): string {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8');
  let items;
  try {
    items = parseCrontab(text);
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`, { cause: error });
  }
  for (const item of items) {
    if (!tasks.has(item.task)) {
      throw new Error(
        `${file}: schedule "${item.identifier}" names task "${item.task}", which is not in the tasks folder`,
      );
    }
  }
  return text;
}

/**
 * Runs Graphile Worker over the task registry, every task wrapped by the tracker. Registers the
 * task types first, so enqueue can check payloads against them.
 */
export async function startWorker(options: WorkerOptions): Promise<JobdeckWorker> {
  const { config, tasks } = options;
  const logger = options.logger ?? createLogger(config.logLevel, 'worker');
  const id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const crontab =
    options.crontab ?? (options.crontabFile ? readCrontab(options.crontabFile, tasks) : '');

  // Worker's own pool needs a connection per concurrent job plus its housekeeping.
  const workerPool = createPool(options.connectionString, {
    max: config.concurrency + 4,
    applicationName: 'jobdeck-worker',
  });
  const trackerPool = createPool(options.connectionString, {
    max: 6,
    applicationName: 'jobdeck-tracker',
  });
  const db = createDb(trackerPool);
  let runner: Runner | undefined;
  try {
    await syncTaskTypes(db, tasks, {
      maxAttempts: config.defaultMaxAttempts,
      maxPayloadBytes: config.maxPayloadBytes,
    });
    const tracker = new Tracker(trackerPool, {
      workerId: id,
      flushIntervalMs: config.flushIntervalMs,
      logger,
    });
    const taskList: TaskList = {};
    for (const [type, def] of tasks) taskList[type] = wrapTask(type, def, { tracker, logger });

    runner = await run({
      pgPool: workerPool,
      taskList,
      concurrency: config.concurrency,
      pollInterval: config.pollIntervalMs,
      noHandleSignals: true,
      crontab,
      logger: makeWorkerLogger(config.logLevel === 'info' ? 'warn' : config.logLevel),
      preset: {
        worker: {
          ...(config.localQueueSize > 0 ? { localQueue: { size: config.localQueueSize } } : {}),
          completeJobBatchDelay: config.completeBatchDelayMs,
          failJobBatchDelay: config.completeBatchDelayMs,
        },
      },
    });
    const started = runner;
    logger.info(
      `worker ${id} running ${tasks.size} task types (concurrency ${config.concurrency})`,
    );
    let stopping: Promise<void> | null = null;
    const stop = () =>
      (stopping ??= (async () => {
        try {
          await started.stop();
        } finally {
          await tracker.close();
          await db.destroy();
          await Promise.all([workerPool.end(), trackerPool.end()]);
        }
      })());
    return { id, stop, promise: started.promise };
  } catch (error) {
    await runner?.stop().catch(() => {});
    await db.destroy();
    await Promise.all([workerPool.end(), trackerPool.end()]);
    throw error;
  }
}
