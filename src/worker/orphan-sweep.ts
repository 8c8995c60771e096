import type pg from 'pg';
import type { Logger } from '../logger.ts';
import type { WorkerService } from './service-runner.ts';

/** The sweep runs every this many heartbeats (10 s at the default heartbeat). */
export const ORPHAN_SWEEP_EVERY = 10;
/** Unfinished jobs one sweep looks at, at most. */
const ORPHAN_SCAN = 5000;

/** Options of {@link OrphanSweep}. */
export interface OrphanSweepOptions {
  pool: pg.Pool;
  logger: Logger;
  /** A candidate is requeued only if it is still orphaned this long after it was found. */
  rescueAfterMs: number;
  intervalMs: number;
  /** Unfinished jobs one sweep looks at, at most (default 5000). */
  pageSize?: number;
}

type Orphan = { id: string; gw_job_id: string | null };

/**
 * Requeues orphans: waiting jobs whose Graphile job is gone, left by a worker that died between
 * Graphile Worker completing a job and the job's finish committing. Each sweep first requeues the
 * candidates the previous one found (if they are still orphaned and `rescueAfterMs` has passed:
 * a finish in flight is not an orphan), then reads one bounded page of candidates; a cursor walks
 * a large backlog over successive sweeps.
 */
export class OrphanSweep implements WorkerService {
  readonly name = 'orphan sweep';
  readonly intervalMs: number;
  readonly #o: OrphanSweepOptions;
  #found: { items: Orphan[]; at: number } | null = null;
  #cursor: { created: string; id: string } | null = null;

  constructor(options: OrphanSweepOptions) {
    this.#o = options;
    this.intervalMs = options.intervalMs;
  }

  async runOnce(): Promise<void> {
    if (this.#found && Date.now() - this.#found.at < this.#o.rescueAfterMs) return;
    if (this.#found && this.#found.items.length > 0) await this.#requeue(this.#found.items);
    this.#found = { items: await this.#findPage(), at: Date.now() };
  }

  async #requeue(items: Orphan[]): Promise<void> {
    const requeued = await this.#o.pool.query<{ requeue_orphans: string }>(
      'select * from jobdeck_private.requeue_orphans($1::jsonb)',
      [JSON.stringify(items)],
    );
    if (requeued.rows.length > 0)
      this.#o.logger.warn(
        `requeued ${requeued.rows.length} job(s) whose Graphile Worker job was gone (a worker stopped before recording their outcome)`,
      );
  }

  async #findPage(): Promise<Orphan[]> {
    const found = await this.#o.pool.query<{
      id: string | null;
      gw_job_id: string | null;
      next_created: string | null;
      next_id: string | null;
    }>('select * from jobdeck_private.orphaned_jobs($1, $2, $3)', [
      this.#cursor?.created ?? null,
      this.#cursor?.id ?? null,
      this.#o.pageSize ?? ORPHAN_SCAN,
    ]);
    const cursor = found.rows[0];
    this.#cursor =
      cursor?.next_created && cursor.next_id
        ? { created: cursor.next_created, id: cursor.next_id }
        : null;
    return found.rows
      .filter((row) => row.id !== null)
      .map((row) => ({ id: row.id!, gw_job_id: row.gw_job_id }));
  }
}
