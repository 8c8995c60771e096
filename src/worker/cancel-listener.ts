import type pg from 'pg';
import type { JobChannels } from '../live/channels.ts';
import { parseJobNotification } from '../live/channels.ts';
import type { PgListener } from '../live/listener.ts';
import type { Logger } from '../logger.ts';
import type { ActiveJobs } from './active.ts';
import { FLOW_RULES_CHANGED, type StartGate } from './start-data.ts';

/**
 * Least time between two re-checks of the database for cancel hints. A flood of hints (forged, or
 * a burst of real cancels) then costs at most one small query per this many ms, each for every
 * job hinted at meanwhile; a lone hint is checked at once.
 */
export const CANCEL_RECHECK_GAP_MS = 20;

/**
 * Aborts the signal of a job running here for a cancel request, once: the notification and the
 * heartbeat's polling fallback may both deliver the same request.
 */
export function requestCancel(
  active: ActiveJobs,
  logger: Logger,
  id: string,
  reason: string | null,
): void {
  if (active.get(id)?.controller.signal.aborted) return;
  active.cancel(id, reason);
  logger.info(`cancelling job ${id}`);
}

/** Options of {@link CancelListener}. */
export interface CancelListenerOptions {
  listener: PgListener;
  /** The database's channels; the cancel channel's name is derived from its secret. */
  channels: JobChannels;
  /** Where hints are checked (the main pool, owner's rights). */
  pool: pg.Pool;
  active: ActiveJobs;
  logger: Logger;
  /**
   * Told of hints for jobs not running here (they may wait in this worker's local queue: their
   * start then reads the row) and of changed flow rules (the nil id).
   */
  gate?: StartGate;
}

/**
 * Aborts running jobs the moment a cancel request for them is committed, by LISTEN on the
 * database's cancel channel (on the process's one LISTEN connection). A notification there is a
 * hint, never an authority: anyone who could name the channel could send one. So a hint for a job
 * running here makes the worker read the job's row (`jobdeck_private.cancel_requests`), and only a
 * row that is cancelled, or running with a cancel request, aborts the job. Hints that arrive while
 * a check runs are checked together afterwards, at most one check per
 * {@link CANCEL_RECHECK_GAP_MS}. A request missed while the LISTEN connection was down reaches the
 * job through the heartbeat instead (src/worker/heartbeat.ts).
 */
export class CancelListener {
  readonly #o: CancelListenerOptions;
  /** Jobs hinted at and not checked yet. */
  readonly #pending = new Set<string>();
  #unsubscribe: (() => Promise<void>) | null = null;
  /** The check in progress or scheduled; null when idle. */
  #checking: Promise<void> | null = null;
  #lastCheckAt = -Infinity;
  #stopped = false;

  constructor(options: CancelListenerOptions) {
    this.#o = options;
  }

  /** Resolves once the LISTEN is in effect. */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#unsubscribe = await this.#o.listener.subscribe(this.#o.channels.cancel, (payload) =>
      this.#onHint(payload),
    );
  }

  /** Stops listening; waits for a check in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = null;
    await unsubscribe?.();
    this.#pending.clear();
    await this.#checking;
  }

  #onHint(payload: string | undefined): void {
    const note = parseJobNotification(payload);
    if (!note) return;
    if (note.id === FLOW_RULES_CHANGED) {
      void this.#o.gate?.rulesChanged();
      return;
    }
    // Hints for jobs not running here cost no query: such a job, should this worker hold it
    // unstarted, reads its row when it starts.
    if (!this.#o.active.get(note.id)) {
      this.#o.gate?.hint(note.id);
      return;
    }
    this.#pending.add(note.id);
    this.#kick();
  }

  #kick(): void {
    if (this.#checking || this.#stopped) return;
    this.#checking = this.#checkLoop().finally(() => {
      this.#checking = null;
      if (this.#pending.size > 0) this.#kick();
    });
  }

  async #checkLoop(): Promise<void> {
    while (this.#pending.size > 0 && !this.#stopped) {
      const wait = this.#lastCheckAt + CANCEL_RECHECK_GAP_MS - performance.now();
      // A tick at least, so hints of one burst are checked together.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
      if (this.#stopped) return;
      const ids = [...this.#pending].filter((id) => this.#o.active.get(id));
      this.#pending.clear();
      if (ids.length === 0) continue;
      this.#lastCheckAt = performance.now();
      await this.#check(ids);
    }
  }

  async #check(ids: string[]): Promise<void> {
    const { pool, active, logger } = this.#o;
    try {
      const { rows } = await pool.query<{ id: string; cancel_reason: string | null }>(
        'select id, cancel_reason from jobdeck_private.cancel_requests($1::uuid[])',
        [ids],
      );
      for (const row of rows) requestCancel(active, logger, row.id, row.cancel_reason);
    } catch (error) {
      // The heartbeat asks the same question on its next beat.
      logger.warn(`could not check cancel requests: ${(error as Error).message}`);
    }
  }
}
