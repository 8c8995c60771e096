import type { Kysely } from 'kysely';
import type { Database } from '../db/types.ts';
import { getBatch, type Batch } from '../batches/batches.ts';
import { isJobId } from '../jobs/ids.ts';
import { BatchNotFoundError } from '../errors.ts';
import { loadJobChannels, type JobChannels } from './channels.ts';
import type { PgListener } from './listener.ts';
import { watchRow } from './watch-row.ts';

/** Options of {@link watchBatch}. */
export interface WatchBatchOptions {
  /** Stops the watch (the generator then returns). */
  signal?: AbortSignal | undefined;
  /** The database's channels (`loadJobChannels()`); without them read through `db` (owner's rights). */
  channels?: JobChannels | undefined;
}

/**
 * Yields the batch now, then again after every change of its counters, and ends after yielding
 * it finished (every job finished and, if it has one, its on-complete job enqueued). As
 * `watchJob`: subscribes before the first read, re-reads on each notification and after a lost
 * LISTEN connection, and yields the row as read, each visible change once.
 */
export async function* watchBatch(
  db: Kysely<Database>,
  listener: PgListener,
  id: string,
  options: WatchBatchOptions = {},
): AsyncGenerator<Batch, void, undefined> {
  if (!isJobId(id)) throw new BatchNotFoundError(String(id));
  const channels = options.channels ?? (await loadJobChannels(db));
  yield* watchRow({
    listener,
    channel: channels.batch(id),
    read: () => getBatch(db, id),
    fingerprint: (batch) =>
      `${batch.succeeded}|${batch.failed}|${batch.cancelled}|${batch.onCompleteJobId}|${batch.cancelRequestedAt?.getTime()}`,
    done: (batch) => batch.status !== 'running',
    signal: options.signal,
  });
}
