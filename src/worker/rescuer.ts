import type pg from 'pg';
import type { Logger } from '../logger.ts';
import type { WorkerService } from './service-runner.ts';

/** Options of {@link Rescuer}. */
export interface RescuerOptions {
  pool: pg.Pool;
  /** This worker: never rescued by itself. */
  workerId: string;
  logger: Logger;
  /** JOBDECK_RESCUE_AFTER_MS: a worker silent this long is presumed dead. */
  rescueAfterMs: number;
  /** How often to look; the worker runs it every heartbeat, so a dead worker's jobs wait little. */
  intervalMs: number;
  /** Since when this worker's own heartbeats have succeeded without a break (Heartbeat's). */
  healthySince: () => number | null;
}

/**
 * Rescues the jobs of workers whose heartbeat is older than `rescueAfterMs` (killed, frozen, cut
 * off): Graphile Worker's locks are forced open, each interrupted attempt is recorded, and the job
 * runs again, or fails when it has no attempts left (`jobdeck_private.rescue_workers`). Rather
 * than Graphile Worker's own 4-hour lock timeout.
 */
export class Rescuer implements WorkerService {
  readonly name = 'rescue';
  readonly intervalMs: number;
  readonly #o: RescuerOptions;

  constructor(options: RescuerOptions) {
    this.#o = options;
    this.intervalMs = options.intervalMs;
  }

  async runOnce(): Promise<void> {
    // Only a worker that has itself been heartbeating for `rescueAfterMs` judges others dead:
    // after a database outage every heartbeat is old, and the first worker back must not take
    // the live ones for dead before they have had the time to beat again.
    const healthySince = this.#o.healthySince();
    if (healthySince === null || Date.now() - healthySince < this.#o.rescueAfterMs) return;
    const rescued = await this.#o.pool.query<{ id: string; status: string; worker_id: string }>(
      'select * from jobdeck_private.rescue_workers(make_interval(secs => $1::float8 / 1000), $2)',
      [this.#o.rescueAfterMs, this.#o.workerId],
    );
    if (rescued.rows.length > 0) {
      const workers = [...new Set(rescued.rows.map((r) => r.worker_id))].join(', ');
      this.#o.logger.warn(
        `rescued ${rescued.rows.length} job(s) from worker(s) that stopped heartbeating: ${workers}`,
      );
    }
  }
}
