import type { Kysely } from 'kysely';
import type { Database } from '../db/types.ts';
import { readJobStates, type JobState } from '../jobs/repository.ts';

/** What {@link JobStateReader.read} gives when the database could not be read. */
export const UNREADABLE = Symbol('unreadable');

interface Waiter {
  resolve(state: JobState | null | typeof UNREADABLE): void;
}

/**
 * Reads the rows notifications name, batched: every id asked for within one tick (the
 * notifications of one commit, or a flood of forged hints) is read by one query, so a burst costs
 * one query, not one per notification and subscriber. Batches do not wait for each other's reads
 * (the pool bounds how many run at once), but each batch's answers are given only after the
 * previous batch's, so answers come back in the order they were asked for.
 */
export class JobStateReader {
  readonly #db: Kysely<Database>;
  #waiting: Map<string, Waiter[]> | null = null;
  /** Settles once every batch so far has given its answers. */
  #answered: Promise<void> = Promise.resolve();

  /** `db`: the owner's (it reads any tenant's rows; callers filter by the subscriber's identity). */
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** The job's state now; null when no such job exists. */
  read(id: string): Promise<JobState | null | typeof UNREADABLE> {
    return new Promise((resolve) => {
      if (!this.#waiting) {
        this.#waiting = new Map();
        // A tick first, so the notifications of one commit are read together.
        setImmediate(() => this.#readBatch());
      }
      const waiters = this.#waiting.get(id);
      if (waiters) waiters.push({ resolve });
      else this.#waiting.set(id, [{ resolve }]);
    });
  }

  #readBatch(): void {
    const batch = this.#waiting!;
    this.#waiting = null;
    const found = readJobStates(this.#db, [...batch.keys()]).then(
      (rows) => new Map(rows.map((row) => [row.id, row])),
      () => null,
    );
    this.#answered = this.#answered.then(async () => {
      const states = await found;
      for (const [id, waiters] of batch) {
        const state = states ? (states.get(id) ?? null) : UNREADABLE;
        for (const waiter of waiters) waiter.resolve(state);
      }
    });
  }
}
