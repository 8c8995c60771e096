import type { Kysely } from 'kysely';
import type { Database } from '../db/types.ts';
import { readJobStates, type JobState } from '../jobs/repository.ts';

/** What {@link JobStateReader.read} gives when the database could not be read. */
export const UNREADABLE = Symbol('unreadable');

interface Waiter {
  resolve(state: JobState | null | typeof UNREADABLE): void;
}

/**
 * Reads the rows notifications name, batched: every id asked for while a read runs is read by the
 * next one, together, so a burst of notifications (a batch of progress writes, or a flood of
 * forged hints) costs a few queries, not one per notification and subscriber. One read at a
 * time, so answers come back in the order they were asked for.
 */
export class JobStateReader {
  readonly #db: Kysely<Database>;
  #waiting = new Map<string, Waiter[]>();
  #reading = false;

  /** `db`: the owner's (it reads any tenant's rows; callers filter by the subscriber's identity). */
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** The job's state now; null when no such job exists. */
  read(id: string): Promise<JobState | null | typeof UNREADABLE> {
    return new Promise((resolve) => {
      const waiters = this.#waiting.get(id);
      if (waiters) waiters.push({ resolve });
      else this.#waiting.set(id, [{ resolve }]);
      if (!this.#reading) {
        this.#reading = true;
        // A tick first, so the notifications of one commit are read together.
        setImmediate(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    while (this.#waiting.size > 0) {
      const batch = this.#waiting;
      this.#waiting = new Map();
      let found: Map<string, JobState> | null = null;
      try {
        const rows = await readJobStates(this.#db, [...batch.keys()]);
        found = new Map(rows.map((row) => [row.id, row]));
      } catch {
        found = null;
      }
      for (const [id, waiters] of batch) {
        const state = found ? (found.get(id) ?? null) : UNREADABLE;
        for (const waiter of waiters) waiter.resolve(state);
      }
    }
    this.#reading = false;
  }
}
