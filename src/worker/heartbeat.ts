import { hostname } from 'node:os';
import type pg from 'pg';
import type { Logger } from '../logger.ts';
import type { ActiveJobs } from './active.ts';
import { requestCancel } from './cancel-listener.ts';
import type { WorkerService } from './service-runner.ts';

/** Every how many beats the running jobs' memory and CPU are sampled. */
const SAMPLE_EVERY = 5;

/** Options of {@link Heartbeat}. */
export interface HeartbeatOptions {
  pool: pg.Pool;
  workerId: string;
  active: ActiveJobs;
  logger: Logger;
  /** JOBDECK_HEARTBEAT_INTERVAL_MS. */
  intervalMs: number;
  concurrency: number;
  taskTypes: string[];
  /** Graphile Worker's pool id, once its pool exists (the rescuer unlocks by it). */
  poolId: () => string | null;
}

/**
 * Keeps this process's row in `jobdeck_private.workers` fresh, so other workers do not take it for
 * dead; every few beats writes a memory/CPU sample to its running jobs. The answer names the
 * running jobs that must stop: those with a cancel request (the polling fallback for a missed
 * notification), and those this worker lost (presumed dead, rescued elsewhere).
 */
export class Heartbeat implements WorkerService {
  readonly name = 'heartbeat';
  readonly intervalMs: number;
  readonly #o: HeartbeatOptions;
  #beats = 0;
  #stopping = false;
  #healthySince: number | null = null;

  constructor(options: HeartbeatOptions) {
    this.#o = options;
    this.intervalMs = options.intervalMs;
  }

  /**
   * Since when beats have succeeded without a break (null: the last one failed). Only a worker
   * that has itself been beating for a while may judge others dead (src/worker/rescuer.ts).
   */
  get healthySince(): number | null {
    return this.#healthySince;
  }

  /** Shows the worker as stopping in the workers list, from the next beat on. */
  markStopping(): void {
    this.#stopping = true;
  }

  async runOnce(): Promise<void> {
    try {
      await this.#beat();
    } catch (error) {
      this.#healthySince = null;
      throw error;
    }
    this.#healthySince ??= Date.now();
  }

  /** Removes this worker's row (once its jobs have finished). Logs instead of throwing. */
  async unregister(): Promise<void> {
    const { pool, workerId, logger } = this.#o;
    await pool
      .query('delete from jobdeck_private.workers where id = $1', [workerId])
      .catch((error: Error) =>
        logger.warn(`could not remove worker ${workerId}: ${error.message}`),
      );
  }

  async #beat(): Promise<void> {
    const { pool, workerId, active, logger } = this.#o;
    const beat = this.#beats++;
    const running = active.ids();
    const samples = beat % SAMPLE_EVERY === 0 && running.length > 0 ? active.sample() : null;
    const info = {
      poolId: this.#o.poolId(),
      hostname: hostname(),
      pid: process.pid,
      concurrency: this.#o.concurrency,
      taskTypes: this.#o.taskTypes,
      rssBytes: process.memoryUsage.rss(),
      stopping: this.#stopping,
      // This worker starts jobs from their start data (src/worker/start-data.ts, migration 000025).
      readsStartData: true,
    };
    const stops = await pool.query<{ id: string; cancel_reason: string | null; lost: boolean }>(
      'select * from jobdeck_private.heartbeat($1, $2::jsonb, $3::uuid[], $4::jsonb)',
      [workerId, JSON.stringify(info), running, samples ? JSON.stringify(samples) : null],
    );
    for (const row of stops.rows) {
      if (!row.lost) requestCancel(active, logger, row.id, row.cancel_reason);
      else if (active.lose(row.id))
        logger.warn(`job ${row.id} was rescued by another worker; abandoning it here`);
    }
  }
}
