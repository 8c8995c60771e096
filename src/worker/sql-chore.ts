import type pg from 'pg';
import type { WorkerService } from './service-runner.ts';

/**
 * A maintenance chore that is one call of a jobdeck_private function per round (the held-jobs
 * release, the type stats refresh): the SQL does the work, the service only paces it.
 */
export abstract class SqlChore implements WorkerService {
  abstract readonly name: string;
  /** The statement one round runs. */
  protected abstract readonly statement: string;
  readonly intervalMs: number;
  readonly #pool: pg.Pool;

  constructor(options: { pool: pg.Pool; intervalMs: number }) {
    this.#pool = options.pool;
    this.intervalMs = options.intervalMs;
  }

  async runOnce(): Promise<void> {
    await this.#pool.query(this.statement);
  }
}
