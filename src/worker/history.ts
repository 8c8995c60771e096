import type pg from 'pg';
import { ensureHistoryPartitions, moveToHistory } from '../jobs/history.ts';
import type { Logger } from '../logger.ts';
import type { WorkerService } from './service-runner.ts';

/** The history service runs every this many heartbeats (10 s at the default heartbeat). */
export const HISTORY_EVERY = 10;
/** Partitions ahead are checked at most this often (they are needed a week at a time). */
const ENSURE_EVERY_MS = 10 * 60_000;

/** Options of {@link HistoryMover}. */
export interface HistoryMoverOptions {
  pool: pg.Pool;
  logger: Logger;
  intervalMs: number;
  /** The interval while a backlog lasts (a round spent its whole budget): one heartbeat. */
  catchUpIntervalMs: number;
  /** Jobs finished at least this many seconds ago move to history (JOBDECK_HISTORY_AFTER_SECONDS). */
  afterSeconds: number;
  succeededDays: number;
  failedDays: number;
}

/**
 * Moves finished jobs from `jobs_live` into their weekly history partitions (migration 000024),
 * and creates the partitions ahead of need. Off the job path: a worker's start, mark and finish
 * touch only jobs_live. A round spends about a second at most, since the worker's services take
 * turns (a long round would delay the heartbeat). A backlog (after the upgrade, or more jobs
 * finishing than one second of moving every 10 s keeps up with: about 30k rows a second here)
 * goes over successive rounds, one heartbeat apart until it is gone. A failed round is logged and
 * retried at the next one, never fatal: a partition that could not be created (lock_timeout)
 * leaves the jobs in jobs_live meanwhile.
 */
export class HistoryMover implements WorkerService {
  readonly name = 'history mover';
  readonly #o: HistoryMoverOptions;
  #ensuredAt = 0;
  #behind = false;

  constructor(options: HistoryMoverOptions) {
    this.#o = options;
  }

  /** Read by the service runner before each round: sooner while a backlog lasts. */
  get intervalMs(): number {
    return this.#behind ? this.#o.catchUpIntervalMs : this.#o.intervalMs;
  }

  async runOnce(): Promise<void> {
    const { pool, logger, afterSeconds, succeededDays, failedDays } = this.#o;
    try {
      if (Date.now() - this.#ensuredAt >= ENSURE_EVERY_MS) {
        await ensureHistoryPartitions(pool, { succeededDays, failedDays });
        this.#ensuredAt = Date.now();
      }
      this.#behind = (await moveToHistory(pool, { afterSeconds, succeededDays, failedDays })).more;
    } catch (error) {
      this.#behind = false;
      logger.warn(`${this.name} failed: ${(error as Error).message}`);
    }
  }
}
