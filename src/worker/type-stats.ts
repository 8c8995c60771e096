import type pg from 'pg';
import type { WorkerService } from './service-runner.ts';

/** The refresh runs every this many heartbeats (a minute at the default heartbeat). */
export const TYPE_STATS_EVERY = 60;

/**
 * Refreshes each task type's median run time (from its latest 200 successes), which gives a
 * running job its ETA before it reports progress.
 */
export class TypeStatsRefresh implements WorkerService {
  readonly name = 'type stats refresh';
  readonly intervalMs: number;
  readonly #pool: pg.Pool;

  constructor(options: { pool: pg.Pool; intervalMs: number }) {
    this.#pool = options.pool;
    this.intervalMs = options.intervalMs;
  }

  async runOnce(): Promise<void> {
    await this.#pool.query('select jobdeck_private.refresh_type_stats()');
  }
}
