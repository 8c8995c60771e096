import type { Logger } from '../logger.ts';

/** A background service of a worker process: one chore, run again every `intervalMs`. */
export interface WorkerService {
  /** Named in the log line of a failed round: `<name> failed: <message>`. */
  readonly name: string;
  /** From the end of one round to the start of the next. */
  readonly intervalMs: number;
  /** One round of the chore. A round that throws is logged; the next comes at the interval. */
  runOnce(): Promise<void>;
}

/**
 * Runs each service on its own interval, one round at a time across all of them: together they
 * hold at most one connection of the main pool (its size counts on that, src/db/connections.ts),
 * and a slow round delays the others' rounds instead of piling up queries.
 */
export class ServiceRunner {
  readonly #services: readonly WorkerService[];
  readonly #logger: Logger;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** The round in flight, or the last one; rounds queue behind it. Never rejects. */
  #turn: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(services: readonly WorkerService[], logger: Logger) {
    this.#services = services;
    this.#logger = logger;
  }

  /**
   * Runs every service's first round, in the order given, then each on its interval. Rejects with
   * the first failed round (a worker that cannot heartbeat must not start).
   */
  async start(): Promise<void> {
    for (const service of this.#services) await service.runOnce();
    for (const service of this.#services) this.#schedule(service);
  }

  /** Cancels the rounds to come and waits for the one in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    await this.#turn;
  }

  #schedule(service: WorkerService): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#turn = this.#turn.then(async () => {
        if (this.#stopped) return;
        try {
          await service.runOnce();
        } catch (error) {
          this.#logger.warn(`${service.name} failed: ${(error as Error).message}`);
        }
        this.#schedule(service);
      });
    }, service.intervalMs);
    // The worker's stop ends the services; a pending round must not keep the process alive.
    timer.unref();
    this.#timers.add(timer);
  }
}
