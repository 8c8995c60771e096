import type { Kysely } from 'kysely';
import type { Database } from '../db/types.ts';
import { isJobId } from '../jobs/ids.ts';
import { loadJobChannels, type JobChannels } from './channels.ts';
import type { PgListener } from './listener.ts';

/** What {@link watchRow} watches: one row, read again on each notification of its channel. */
export interface RowWatch<T> {
  listener: PgListener;
  /** The row's NOTIFY channel. */
  channel: string;
  /** Reads the row as it is now. */
  read(): Promise<T>;
  /** What makes two reads different to the watcher: equal fingerprints are yielded once. */
  fingerprint(row: T): string;
  /** Whether the watch ends after yielding this row. */
  done(row: T): boolean;
  signal?: AbortSignal | undefined;
}

/**
 * Yields the row now, then again after every visible change, and ends after yielding one that is
 * `done`. What it yields is always the row as read: a notification only makes it read again.
 * Subscribes before the first read, so no change between the two is missed; after a lost LISTEN
 * connection it re-reads, so a change sent while disconnected is not missed either. Coalesced
 * notifications re-read once. The one loop behind `watchJob` and `watchBatch`.
 */
export async function* watchRow<T>(watch: RowWatch<T>): AsyncGenerator<T, void, undefined> {
  const { listener, signal } = watch;
  let dirty = true;
  let wake: (() => void) | null = null;
  const poke = () => {
    dirty = true;
    wake?.();
  };
  const unsubscribe = await listener.subscribe(watch.channel, poke);
  const removeReconnect = listener.onReconnect(poke);
  signal?.addEventListener('abort', poke);
  try {
    let last: string | null = null;
    while (!signal?.aborted) {
      if (!dirty) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        continue;
      }
      dirty = false;
      const row = await watch.read();
      const fingerprint = watch.fingerprint(row);
      if (fingerprint !== last) {
        last = fingerprint;
        yield row;
      }
      if (watch.done(row)) return;
    }
  } finally {
    signal?.removeEventListener('abort', poke);
    removeReconnect();
    await unsubscribe();
  }
}

/** Options of `watchJob` and `watchBatch`. */
export interface WatchOptions {
  /** Stops the watch (the generator then returns). */
  signal?: AbortSignal | undefined;
  /**
   * The database's channels (`loadJobChannels()`), when the caller keeps them; without them the
   * watch reads the NOTIFY secret through `db` first, which needs the owner's rights.
   */
  channels?: JobChannels | undefined;
}

/** What a kind of row (a job, a batch) gives {@link watcher}. */
export interface RowKind<T> {
  /** The error for an id that is not one. */
  notFound(id: string): Error;
  channel(channels: JobChannels, id: string): string;
  read(db: Kysely<Database>, id: string): Promise<T>;
  fingerprint(row: T): string;
  done(row: T): boolean;
}

/** A `watch…(db, listener, id, options)` function for one kind of row, by id, on {@link watchRow}. */
export function watcher<T>(
  kind: RowKind<T>,
): (
  db: Kysely<Database>,
  listener: PgListener,
  id: string,
  options?: WatchOptions,
) => AsyncGenerator<T, void, undefined> {
  return async function* (db, listener, id, options = {}) {
    if (!isJobId(id)) throw kind.notFound(String(id));
    const channels = options.channels ?? (await loadJobChannels(db));
    yield* watchRow({
      listener,
      channel: kind.channel(channels, id),
      read: () => kind.read(db, id),
      fingerprint: kind.fingerprint,
      done: kind.done,
      signal: options.signal,
    });
  };
}
