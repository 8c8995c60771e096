import { hostname } from 'node:os';
import type pg from 'pg';
import type { Logger } from '../logger.ts';
import { PgListener } from '../live/listener.ts';
import type { ActiveJobs } from './active.ts';

/** Channel `jobdeck.cancel_job()` notifies on: `{"id": "<job id>", "workerId": "<worker>"}`. */
export const CANCEL_CHANNEL = 'jobdeck:cancel';

export interface ControlOptions {
  pool: pg.Pool;
  connectionString: string;
  workerId: string;
  active: ActiveJobs;
  logger: Logger;
  heartbeatIntervalMs: number;
  rescueAfterMs: number;
  concurrency: number;
  taskTypes: string[];
  /** Graphile Worker's pool id, once its pool exists. */
  poolId: () => string | null;
}

/** Every how many heartbeats the slower chores run. */
const SAMPLE_EVERY = 5;
const RELEASE_HELD_EVERY = 10;
const TYPE_STATS_EVERY = 60;
const ORPHANS_EVERY = 10;
/** Unfinished jobs one orphan sweep looks at, at most. */
const ORPHAN_SCAN = 5000;

/**
 * The worker process's control loop, one tick per heartbeat interval:
 * - heartbeat: refresh this process's row in `jobdeck_private.workers`, and every few ticks write
 *   a memory/CPU sample to its running jobs;
 * - cancel: abort running jobs with a cancel request. Requests arrive by NOTIFY at once; the
 *   heartbeat also returns any this process missed (the polling fallback);
 * - rescue: release the jobs of workers whose heartbeat is older than `rescueAfterMs`;
 * - now and then: release held jobs whose organisation has room, refresh per-type medians, and
 *   requeue orphans: waiting jobs whose Graphile job is gone (a worker died between Graphile
 *   Worker completing a job and the job's finish committing). A candidate is requeued only if it
 *   is still orphaned `rescueAfterMs` after it was found.
 */
export class WorkerControl {
  readonly #o: ControlOptions;
  readonly #listener: PgListener;
  #timer: NodeJS.Timeout | undefined;
  #tick = 0;
  #running: Promise<void> | null = null;
  #stopped = false;
  #stopping = false;
  #orphans: { items: { id: string; gw_job_id: string | null }[]; foundAt: number } | null = null;
  #orphanCursor: { created: string; id: string } | null = null;
  /** Since when this worker's heartbeats have succeeded without a break (null: failing now). */
  #healthySince: number | null = null;

  constructor(options: ControlOptions) {
    this.#o = options;
    this.#listener = new PgListener(options.connectionString, { logger: options.logger });
  }

  /** Registers the worker (first heartbeat) and starts listening for cancels. */
  async start(): Promise<void> {
    await this.#listener.subscribe(CANCEL_CHANNEL, (payload) => this.#onCancel(payload));
    await this.#beat();
    this.#schedule();
  }

  /** Marks the worker as stopping (shown in the workers list) from the next heartbeat on. */
  markStopping(): void {
    this.#stopping = true;
  }

  /** Stops the loop, then removes this worker's row (call after its jobs have finished). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    await this.#listener.close();
    await this.#o.pool
      .query('delete from jobdeck_private.workers where id = $1', [this.#o.workerId])
      .catch((error: Error) =>
        this.#o.logger.warn(`could not remove worker ${this.#o.workerId}: ${error.message}`),
      );
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#beat()
        .catch((error: Error) => {
          this.#healthySince = null;
          this.#o.logger.warn(`heartbeat failed: ${error.message}`);
        })
        .finally(() => {
          this.#running = null;
          this.#schedule();
        });
    }, this.#o.heartbeatIntervalMs);
    this.#timer.unref();
  }

  #onCancel(payload: string | undefined): void {
    let message: { id?: unknown; reason?: unknown };
    try {
      message = JSON.parse(payload ?? '') as { id?: unknown; reason?: unknown };
    } catch {
      return;
    }
    const { id, reason } = message;
    if (typeof id === 'string' && this.#o.active.get(id))
      this.#requestCancel(id, typeof reason === 'string' ? reason : null);
  }

  #requestCancel(id: string, reason: string | null): void {
    if (this.#o.active.get(id)?.controller.signal.aborted) return;
    this.#o.active.cancel(id, reason);
    this.#o.logger.info(`cancelling job ${id}`);
  }

  async #beat(): Promise<void> {
    const tick = this.#tick++;
    const { pool, workerId, active } = this.#o;
    const running = active.ids();
    const samples = tick % SAMPLE_EVERY === 0 && running.length > 0 ? active.sample() : null;
    const info = {
      poolId: this.#o.poolId(),
      hostname: hostname(),
      pid: process.pid,
      concurrency: this.#o.concurrency,
      taskTypes: this.#o.taskTypes,
      rssBytes: process.memoryUsage.rss(),
      stopping: this.#stopping,
    };
    const stops = await pool.query<{ id: string; cancel_reason: string | null; lost: boolean }>(
      'select * from jobdeck_private.heartbeat($1, $2::jsonb, $3::uuid[], $4::jsonb)',
      [workerId, JSON.stringify(info), running, samples ? JSON.stringify(samples) : null],
    );
    for (const row of stops.rows) {
      if (!row.lost) this.#requestCancel(row.id, row.cancel_reason);
      else if (this.#o.active.lose(row.id))
        this.#o.logger.warn(`job ${row.id} was rescued by another worker; abandoning it here`);
    }

    // Only a worker that has itself been heartbeating for `rescueAfterMs` judges others dead:
    // after a database outage every heartbeat is old, and the first worker back must not take
    // the live ones for dead before they have had the time to beat again.
    this.#healthySince ??= Date.now();
    if (Date.now() - this.#healthySince >= this.#o.rescueAfterMs) await this.#rescue();
    if (tick % RELEASE_HELD_EVERY === 0) {
      await pool.query('select jobdeck_private.release_all_held()');
    }
    if (tick % TYPE_STATS_EVERY === 0) {
      await pool.query('select jobdeck_private.refresh_type_stats()');
    }
    if (tick % ORPHANS_EVERY === 0) await this.#sweepOrphans();
  }

  async #rescue(): Promise<void> {
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

  async #sweepOrphans(): Promise<void> {
    const { pool, logger, rescueAfterMs } = this.#o;
    if (this.#orphans && Date.now() - this.#orphans.foundAt < rescueAfterMs) return;
    if (this.#orphans && this.#orphans.items.length > 0) {
      const requeued = await pool.query<{ requeue_orphans: string }>(
        'select * from jobdeck_private.requeue_orphans($1::jsonb)',
        [JSON.stringify(this.#orphans.items)],
      );
      if (requeued.rows.length > 0)
        logger.warn(
          `requeued ${requeued.rows.length} job(s) whose Graphile Worker job was gone (a worker stopped before recording their outcome)`,
        );
    }
    // One bounded page per sweep; the cursor walks the whole backlog over successive sweeps.
    const found = await pool.query<{
      id: string | null;
      gw_job_id: string | null;
      next_created: string | null;
      next_id: string | null;
    }>('select * from jobdeck_private.orphaned_jobs($1, $2, $3)', [
      this.#orphanCursor?.created ?? null,
      this.#orphanCursor?.id ?? null,
      ORPHAN_SCAN,
    ]);
    const cursor = found.rows[0];
    this.#orphanCursor =
      cursor?.next_created && cursor.next_id
        ? { created: cursor.next_created, id: cursor.next_id }
        : null;
    this.#orphans = {
      items: found.rows
        .filter((row) => row.id !== null)
        .map((row) => ({ id: row.id!, gw_job_id: row.gw_job_id })),
      foundAt: Date.now(),
    };
  }
}
