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
