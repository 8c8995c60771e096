import { EventEmitter } from 'node:events';
import type pg from 'pg';
import { run, type Runner, type TaskList, type WorkerEvents } from 'graphile-worker';
import type { Config } from '../config.ts';
import { ListenSplitPool } from '../db/pool.ts';
import { makeWorkerLogger, type Logger } from '../logger.ts';

const RETURN_JOBS_ERROR = 'Error occurred whilst returning jobs from local queue to database queue';
const DOUBLE_RELEASE_ERROR = 'Release called on client which has already been released to the pool';

/**
 * What Graphile Worker rejects unhandled while its pool goes down under it, and what that leaves:
 * - it cannot hand its local queue back (the pool is released): those jobs stay locked by that
 *   pool, and are released on restart;
 * - it releases its LISTEN client twice when PostgreSQL drops the connection while the pool shuts
 *   down (its error handler and its shutdown both release it; found by the soak's PostgreSQL
 *   restart): the client is already back in the old pool, which is being shut down.
 * Null for any other reason, which stays fatal.
 */
export function graphileShutdownNoise(reason: unknown): string | null {
  if (!(reason instanceof Error)) return null;
  if (reason.message.startsWith(RETURN_JOBS_ERROR))
    return `${reason.message}; the jobs are released when the worker restarts`;
  if (reason.message.startsWith(DOUBLE_RELEASE_ERROR) && /graphile-worker/.test(reason.stack ?? ''))
    return `Graphile Worker released its LISTEN client twice while its pool shut down (${reason.message}); the new pool listens on its own client`;
  return null;
}

/** Options of {@link GraphileSupervisor}. */
export interface GraphileSupervisorOptions {
  /**
   * Graphile Worker's own pool. A {@link ListenSplitPool} goes through a transaction pooler: Graphile
   * Worker then uses no named prepared statements, and takes its LISTEN client from the direct pool.
   */
  pgPool: pg.Pool | ListenSplitPool;
  /** The main pool (owner's rights), to release the locks of a pool that died. */
  mainPool: pg.Pool;
  taskList: TaskList;
  crontab: string;
  config: Pick<
    Config,
    | 'concurrency'
    | 'localQueueSize'
    | 'pollIntervalMs'
    | 'completeBatchDelayMs'
    | 'logLevel'
    | 'shutdownTimeoutMs'
  >;
  logger: Logger;
}

/**
 * Runs Graphile Worker over the wrapped tasks, and keeps it running. Graphile Worker shuts its pool
 * down after a major error (e.g. PostgreSQL restarting under it); the worker process lives on: it
 * starts a new pool once the database answers, after releasing the jobs the old pool had locked.
 */
export class GraphileSupervisor {
  readonly #o: GraphileSupervisorOptions;
  readonly #events: WorkerEvents = new EventEmitter();
  #poolId: string | null = null;
  #current: Runner | null = null;
  /** Set before stop() stops anything: the pool's own shutdown events then come from us. */
  #shuttingDown = false;
  #restartTimer: NodeJS.Timeout | undefined;
  readonly #ignoreReturnErrors = (reason: unknown) => {
    const noise = graphileShutdownNoise(reason);
    if (noise === null) throw reason;
    this.#o.logger.warn(noise);
  };

  constructor(options: GraphileSupervisorOptions) {
    this.#o = options;
    this.#events.on('pool:create', ({ workerPool }) => {
      this.#poolId = workerPool.id;
    });
    const { pgPool } = options;
    // Emitted just before Graphile Worker asks its pool for the client it LISTENs on.
    if (pgPool instanceof ListenSplitPool)
      this.#events.on('pool:listen:connecting', () => pgPool.divertNext());
  }

  /** The id Graphile Worker's current pool locks jobs with (the rescuer unlocks by it). */
  get poolId(): string | null {
    return this.#poolId;
  }

  /** Starts the first pool; resolves once it runs. */
  async start(): Promise<void> {
    this.#current = await this.#launch();
    if (!this.#poolId)
      this.#o.logger.warn('Graphile Worker did not report its pool id; crash rescue is off');
    process.on('unhandledRejection', this.#ignoreReturnErrors);
    this.#supervise(this.#current);
  }

  /** Stops the current pool (running jobs get JOBDECK_SHUTDOWN_TIMEOUT_MS) and any restart. */
  async stop(): Promise<void> {
    this.#shuttingDown = true;
    clearTimeout(this.#restartTimer);
    await this.#current?.stop().catch((error: Error) => {
      // A pool that already shut itself down has nothing left to stop.
      if (!/already|not running|released/i.test(error.message)) throw error;
    });
  }

  /** Stops filtering Graphile Worker's unhandled rejections (after the worker has stopped). */
  detach(): void {
    process.off('unhandledRejection', this.#ignoreReturnErrors);
  }

  #launch(): Promise<Runner> {
    const { config, pgPool, taskList, crontab } = this.#o;
    return run({
      events: this.#events,
      pgPool,
      taskList,
      concurrency: config.concurrency,
      pollInterval: config.pollIntervalMs,
      noHandleSignals: true,
      crontab,
      logger: makeWorkerLogger(config.logLevel === 'info' ? 'warn' : config.logLevel),
      preset: {
        worker: {
          preparedStatements: !(pgPool instanceof ListenSplitPool),
          ...(config.localQueueSize > 0 ? { localQueue: { size: config.localQueueSize } } : {}),
          completeJobBatchDelay: config.completeBatchDelayMs,
          failJobBatchDelay: config.completeBatchDelayMs,
          gracefulShutdownAbortTimeout: config.shutdownTimeoutMs,
        },
      },
    });
  }

  #supervise(watched: Runner): void {
    const deadPool = this.#poolId;
    let ended = false;
    const onEnd = (error?: unknown) => {
      if (this.#shuttingDown || watched !== this.#current || ended) return;
      ended = true;
      this.#o.logger.error(
        `Graphile Worker stopped${error ? ` (${(error as Error).message})` : ''}; restarting`,
      );
      this.#restartTimer = setTimeout(() => void this.#restart(deadPool, 1000), 1000);
    };
    watched.promise.then(() => onEnd(), onEnd);
    // The pool can hang in its own shutdown (handing its jobs back to a database that is gone),
    // so its promise may never settle: the start of that shutdown is the signal.
    const onShutdown = ({ workerPool: pool }: { workerPool: { id: string } }) => {
      if (pool.id !== deadPool) return;
      this.#events.off('pool:gracefulShutdown', onShutdown);
      onEnd(new Error('its pool began shutting down'));
    };
    this.#events.on('pool:gracefulShutdown', onShutdown);
  }

  async #restart(deadPool: string | null, delayMs: number): Promise<void> {
    if (this.#shuttingDown) return;
    const { logger, mainPool } = this.#o;
    try {
      if (deadPool)
        await mainPool.query('select jobdeck_private.release_pools($1::text[])', [[deadPool]]);
      this.#current = await this.#launch();
      logger.warn(`Graphile Worker restarted (pool ${this.#poolId ?? 'unknown'})`);
      this.#supervise(this.#current);
    } catch (restartError) {
      const next = Math.min(delayMs * 2, 30_000);
      logger.warn(
        `could not restart Graphile Worker (${(restartError as Error).message}); again in ${next} ms`,
      );
      this.#restartTimer = setTimeout(() => void this.#restart(deadPool, next), next);
    }
  }
}
