import type { Kysely } from 'kysely';
import type { GrafastSubscriber } from 'postgraphile/grafast';
import type { Database } from '../db/types.ts';
import { findBatch } from '../batches/batches.ts';
import type { JobChannels } from './channels.ts';
import type { PgListener } from './listener.ts';

/** Who listens to one batch: its id and the verified identity's scope. */
export interface BatchChangeTopic {
  batchId: string;
  orgId: string;
  /** Set for users (they see their own batches); absent for admins (their organisation's). */
  ownerId?: string;
  /** When the token expires (ms since the epoch): an `expired` event, then the end. */
  expiresAt: number;
}

/** What a batch subscriber receives. */
export type BatchChangeEvent =
  | { kind: 'changed'; id: string; total: number; finished: number }
  | { kind: 'reconnected'; id: string }
  | { kind: 'expired'; id: string };

/**
 * Live changes of batches for GraphQL subscriptions, from the batch's NOTIFY channel (a hint: the
 * row is re-read on the owner's pool and passed on only when the batch is the subscriber's own,
 * or their organisation's for an admin; anyone else's batch sends nothing, whatever they know of
 * its id). Topics are JSON of {@link BatchChangeTopic}, made from the verified identity only.
 */
export class BatchChangeHub implements GrafastSubscriber<Record<string, BatchChangeEvent>> {
  readonly #listener: PgListener;
  readonly #channels: JobChannels;
  readonly #ownerDb: Kysely<Database>;

  constructor(listener: PgListener, channels: JobChannels, ownerDb: Kysely<Database>) {
    this.#listener = listener;
    this.#channels = channels;
    this.#ownerDb = ownerDb;
  }

  /** Grafast's pubsub interface: the events of one topic until the consumer returns. */
  async subscribe<TTopic extends string | number>(
    topicJson: TTopic,
  ): Promise<AsyncIterableIterator<BatchChangeEvent>> {
    const topic = JSON.parse(String(topicJson)) as BatchChangeTopic;
    const queue: BatchChangeEvent[] = [];
    let wake: (() => void) | null = null;
    let done = false;
    let pending = false;
    const push = (event: BatchChangeEvent) => {
      queue.push(event);
      wake?.();
    };
    const visible = (row: { org_id: string | null; owner_id: string | null }) =>
      row.org_id === topic.orgId && (topic.ownerId === undefined || row.owner_id === topic.ownerId);
    const read = async () => {
      // one read per burst: notifications while a read runs are folded into the next
      if (pending) return;
      pending = true;
      try {
        const row = await findBatch(this.#ownerDb, topic.batchId);
        if (row && visible(row) && !done)
          push({
            kind: 'changed',
            id: row.id,
            total: row.total,
            finished: row.succeeded + row.failed + row.cancelled,
          });
      } catch {
        push({ kind: 'reconnected', id: topic.batchId });
      } finally {
        pending = false;
      }
    };
    const unsubscribe = await this.#listener.subscribe(
      this.#channels.batch(topic.batchId),
      () => void read(),
    );
    const removeReconnect = this.#listener.onReconnect(() =>
      push({ kind: 'reconnected', id: topic.batchId }),
    );
    const expiry = setTimeout(
      () => push({ kind: 'expired', id: topic.batchId }),
      Math.max(0, topic.expiresAt - Date.now()),
    );
    const finish = async () => {
      if (done) return;
      done = true;
      clearTimeout(expiry);
      removeReconnect();
      wake?.();
      await unsubscribe();
    };
    const iterator: AsyncIterableIterator<BatchChangeEvent> = {
      [Symbol.asyncIterator]() {
        return iterator;
      },
      async next() {
        while (!done && queue.length === 0) await new Promise<void>((r) => (wake = r));
        wake = null;
        const event = queue.shift();
        if (!event) return { done: true, value: undefined };
        if (event.kind === 'expired') await finish();
        return { done: false, value: event };
      },
      async return() {
        await finish();
        return { done: true, value: undefined };
      },
    };
    return iterator;
  }
}
