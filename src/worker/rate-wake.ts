import type pg from 'pg';
import type { Logger } from '../logger.ts';

/** At most this many wake-ups pending per worker: past it, the poll interval takes over. */
const MAX_PENDING = 1000;

// The jobs of a batch that a rate limit put back (start_jobs), with how long until their
// Graphile job is due (a little before their slot, sql/rate/admit_rated.sql), by the database's
// clock.
const DEFERRED = `
  select distinct ceil(extract(epoch from (g.run_at - now())) * 1000)::bigint as in_ms
    from jobdeck.jobs j
    join graphile_worker.jobs g on g.id = j.gw_job_id
   where j.id = any($1::uuid[]) and j.status in ('queued', 'retrying') and j.held_at is null
     and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
     and j.held_reason like 'rate limited:%' and g.run_at > now()`;

/**
 * Wakes every worker when a job a rate limit put back is due. Graphile Worker notices a job
 * whose `run_at` is in the future only on its next poll (JOBDECK_POLL_INTERVAL_MS, 2 s by
 * default), which would make a rate-limited backlog start up to that much later than its turn.
 * After a start batch in which some jobs were not started, the worker looks up which were put back
 * by a rate limit and, at each one's time, sends Graphile Worker's own `jobs:insert` notification:
 * every worker listening fetches at once. A wake-up that finds nothing costs one fetch; a lost one
 * costs at most a poll interval.
 */
export class RateWake {
  readonly #pool: pg.Pool;
  readonly #logger: Logger;
  readonly #timers = new Map<number, NodeJS.Timeout>();
  #closed = false;

  constructor(pool: pg.Pool, logger: Logger) {
    this.#pool = pool;
    this.#logger = logger;
  }

  /** Schedules wake-ups for those of `jobIds` (jobs a start batch did not start) a rate limit put back. */
  async schedule(jobIds: string[]): Promise<void> {
    if (this.#closed || jobIds.length === 0) return;
    let rows: { in_ms: string }[];
    try {
      rows = (await this.#pool.query<{ in_ms: string }>(DEFERRED, [jobIds])).rows;
    } catch (error) {
      this.#logger.debug(`could not look up rate-limited jobs: ${(error as Error).message}`);
      return;
    }
    for (const row of rows) {
      const inMs = Number(row.in_ms);
      // One timer per 5 ms: jobs due together need one wake-up. Not coarser: a turn is reserved
      // for a short grace only (sql/rate/admit_rated.sql), and a late wake-up eats into it.
      const at = Math.ceil((Date.now() + inMs) / 5) * 5;
      if (this.#closed || this.#timers.has(at) || this.#timers.size >= MAX_PENDING) continue;
      const timer = setTimeout(
        () => {
          this.#timers.delete(at);
          if (this.#closed) return;
          this.#pool
            .query(`select pg_notify('jobs:insert', '{"count":1}')`)
            .catch((error: Error) => this.#logger.debug(`rate wake-up failed: ${error.message}`));
        },
        at - Date.now() + 1,
      );
      timer.unref();
      this.#timers.set(at, timer);
    }
  }

  /** Cancels every pending wake-up. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}
