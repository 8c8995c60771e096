import type { PgListener } from '../live/listener.ts';
import type { Logger } from '../logger.ts';
import type { ActiveJobs } from './active.ts';

/** Channel `jobdeck.cancel_job()` notifies on: `{"id": "<job id>", "workerId": "<worker>"}`. */
export const CANCEL_CHANNEL = 'jobdeck:cancel';

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

/**
 * Aborts running jobs the moment a cancel request for them is committed, by LISTEN on
 * {@link CANCEL_CHANNEL} (on the process's one LISTEN connection). A request missed while that
 * connection was down reaches the job through the heartbeat instead (src/worker/heartbeat.ts).
 */
export class CancelListener {
  readonly #listener: PgListener;
  readonly #active: ActiveJobs;
  readonly #logger: Logger;
  #unsubscribe: (() => Promise<void>) | null = null;

  constructor(options: { listener: PgListener; active: ActiveJobs; logger: Logger }) {
    this.#listener = options.listener;
    this.#active = options.active;
    this.#logger = options.logger;
  }

  /** Resolves once the LISTEN is in effect. */
  async start(): Promise<void> {
    this.#unsubscribe = await this.#listener.subscribe(CANCEL_CHANNEL, (payload) =>
      this.#onNotification(payload),
    );
  }

  async stop(): Promise<void> {
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = null;
    await unsubscribe?.();
  }

  #onNotification(payload: string | undefined): void {
    let message: { id?: unknown; reason?: unknown };
    try {
      message = JSON.parse(payload ?? '') as { id?: unknown; reason?: unknown };
    } catch {
      return;
    }
    const { id, reason } = message;
    if (typeof id === 'string' && this.#active.get(id))
      requestCancel(this.#active, this.#logger, id, typeof reason === 'string' ? reason : null);
  }
}
