import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { run, parseCrontab, type Runner, type TaskList, type WorkerEvents } from 'graphile-worker';
import type { Config } from '../config.ts';
import { createDb, createPool } from '../db/pool.ts';
import { createLogger, makeWorkerLogger, type Logger } from '../logger.ts';
import { syncTaskTypes, taskSettings, type TaskRegistry } from '../jobs/registry.ts';
import { ActiveJobs } from './active.ts';
import { WorkerControl } from './control.ts';
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
    | 'markDelayMs'
    | 'defaultMaxAttempts'
    | 'maxPayloadBytes'
    | 'logLevel'
    | 'shutdownTimeoutMs'
    | 'cancelGraceMs'
    | 'heartbeatIntervalMs'
    | 'rescueAfterMs'
    | 'orgConcurrency'
  >;
  /** Crontab text (Graphile Worker's format). Takes precedence over `crontabFile`. */
  crontab?: string;
  /** Path of a crontab file; a missing file means no schedules. */
  crontabFile?: string;
  logger?: Logger;
}

/** A running worker process's handle. */
const RETURN_JOBS_ERROR = 'Error occurred whilst returning jobs from local queue to database queue';

export interface JobdeckWorker {
  /** This process's worker id, recorded on the jobs it runs. */
  readonly id: string;
  /**
   * Stops fetching and lets running jobs finish for up to JOBDECK_SHUTDOWN_TIMEOUT_MS; then their
   * signals abort and, once they stop (or their grace runs out), they go back to the queue without
   * spending an attempt. Flushes tracking writes and closes connections.
   */
  stop(): Promise<void>;
  /**
   * Resolves once `stop()` has finished. Graphile Worker stopping on its own (after a major
   * database error) does not end it: the worker starts a new Graphile Worker pool.
   */
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
  let control: WorkerControl | undefined;
  try {
    const defaults = {
      maxAttempts: config.defaultMaxAttempts,
      maxPayloadBytes: config.maxPayloadBytes,
      cancelGraceMs: config.cancelGraceMs,
    };
    await syncTaskTypes(db, tasks, defaults);
    if (config.orgConcurrency !== undefined) {
      await trackerPool.query(
        `insert into jobdeck_private.settings (name, value) values ('org_concurrency', to_jsonb($1::int))
         on conflict (name) do update set value = excluded.value, updated_at = now()
         where settings.value is distinct from excluded.value`,
        [config.orgConcurrency],
      );
    }
    const tracker = new Tracker(trackerPool, {
      workerId: id,
      flushIntervalMs: config.flushIntervalMs,
      markDelayMs: config.markDelayMs,
      logger,
    });
    const active = new ActiveJobs();
    const taskList: TaskList = {};
    for (const [type, def] of tasks) {
      const settings = taskSettings(def, defaults);
      taskList[type] = wrapTask(type, def, {
        tracker,
        logger,
        active,
        settings,
        finishBacklogLimit: Math.max(100, config.concurrency * 4),
      });
    }
    let poolId: string | null = null;
    const events: WorkerEvents = new EventEmitter();
    events.on('pool:create', ({ workerPool }) => {
      poolId = workerPool.id;
    });
    const launch = () =>
      run({
        events,
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
            gracefulShutdownAbortTimeout: config.shutdownTimeoutMs,
          },
        },
      });

    runner = await launch();
    if (!poolId) logger.warn('Graphile Worker did not report its pool id; crash rescue is off');
    control = new WorkerControl({
      pool: trackerPool,
      connectionString: options.connectionString,
      workerId: id,
      active,
      logger,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      rescueAfterMs: config.rescueAfterMs,
      concurrency: config.concurrency,
      taskTypes: [...tasks.keys()],
      poolId: () => poolId,
    });
    await control.start();
    const startedControl = control;
    logger.info(
      `worker ${id} running ${tasks.size} task types (concurrency ${config.concurrency})`,
    );

    // Graphile Worker shuts its pool down after a major error (e.g. PostgreSQL restarting under
    // it). The worker process lives on: it starts a new pool once the database answers, after
    // releasing the jobs the old pool had locked.
    let current: Runner = runner;
    let stopping: Promise<void> | null = null;
    // Set before stop() starts stopping anything: the pool's own shutdown events then come from us.
    let shuttingDown = false;
    let restartTimer: NodeJS.Timeout | undefined;
    let settle: () => void = () => {};
    const stopped = new Promise<void>((resolve) => (settle = resolve));
    const ignoreReturnErrors = (reason: unknown) => {
      // Graphile Worker rejects unhandled when it cannot hand its local queue back while its
      // pool is released; those jobs stay locked by that pool and are released on restart.
      if (reason instanceof Error && reason.message.startsWith(RETURN_JOBS_ERROR)) {
        logger.warn(`${reason.message}; the jobs are released when the worker restarts`);
        return;
      }
      throw reason;
    };
    process.on('unhandledRejection', ignoreReturnErrors);
    const supervise = (watched: Runner) => {
      const deadPool = poolId;
      let ended = false;
      const onEnd = (error?: unknown) => {
        if (shuttingDown || watched !== current || ended) return;
        ended = true;
        logger.error(
          `Graphile Worker stopped${error ? ` (${(error as Error).message})` : ''}; restarting`,
        );
        const restart = async (delayMs: number): Promise<void> => {
          if (shuttingDown) return;
          try {
            if (deadPool)
              await trackerPool.query('select jobdeck_private.release_pools($1::text[])', [
                [deadPool],
              ]);
            current = await launch();
            logger.warn(`Graphile Worker restarted (pool ${poolId ?? 'unknown'})`);
            supervise(current);
          } catch (restartError) {
            const next = Math.min(delayMs * 2, 30_000);
            logger.warn(
              `could not restart Graphile Worker (${(restartError as Error).message}); again in ${next} ms`,
            );
            restartTimer = setTimeout(() => void restart(next), next);
          }
        };
        restartTimer = setTimeout(() => void restart(1000), 1000);
      };
      watched.promise.then(() => onEnd(), onEnd);
      // The pool can hang in its own shutdown (handing its jobs back to a database that is gone),
      // so its promise may never settle: the start of that shutdown is the signal.
      const onShutdown = ({ workerPool: pool }: { workerPool: { id: string } }) => {
        if (pool.id !== deadPool) return;
        events.off('pool:gracefulShutdown', onShutdown);
        onEnd(new Error('its pool began shutting down'));
      };
      events.on('pool:gracefulShutdown', onShutdown);
    };
    supervise(current);

    const stop = () =>
      (stopping ??= (async () => {
        shuttingDown = true;
        startedControl.markStopping();
        clearTimeout(restartTimer);
        try {
          await current.stop().catch((error: Error) => {
            // A pool that already shut itself down has nothing left to stop.
            if (!/already|not running|released/i.test(error.message)) throw error;
          });
        } finally {
          await tracker.close();
          await startedControl.stop();
          await db.destroy();
          await Promise.all([workerPool.end(), trackerPool.end()]);
          process.off('unhandledRejection', ignoreReturnErrors);
          settle();
        }
      })());
    return { id, stop, promise: stopped };
  } catch (error) {
    await runner?.stop().catch(() => {});
    await control?.stop().catch(() => {});
    await db.destroy();
    await Promise.all([workerPool.end(), trackerPool.end()]);
    throw error;
  }
}
