import type { Kysely } from 'kysely';
import type { GrafastSubscriber } from 'postgraphile/grafast';
import type { Database } from '../db/types.ts';
import { parseJobNotification, type JobChannels } from './channels.ts';
import type { PgListener } from './listener.ts';
import { JobStateReader, UNREADABLE } from './state-reader.ts';
import { callAt } from '../util/timers.ts';

/**
 * Which changes a subscriber gets, derived from the verified identity only: the channel of the
 * user in their organisation (`owner`) or of their organisation (`org`). Channel names are keyed
 * with the database's secret (src/live/channels.ts), so no one can name another tenant's channel;
 * and a notification only names a job: the hub re-reads the row and passes on only changes of
 * jobs whose row is of `orgId` (and `ownerId`).
 */
export interface JobChangeTopic {
  kind: 'owner' | 'org';
  /** The organisation: every event must be of a job of this organisation. */
  orgId: string;
  /** Kind owner: every event must be of a job of this user. */
  ownerId?: string;
  /** Only changes of this job (lower-case, hyphenated). */
  jobId?: string;
  /** When the subscriber's token expires: the stream then ends with an `expired` event. */
  expiresAt?: number;
}

/**
 * One change as subscribers see it: the job and its status and progress as re-read from its row
 * after the notification (never as a notification claims). `reconnected`: changes may have been
 * missed (the listener reconnected, the subscriber fell behind, or a changed row could not be
 * read), re-read. `expired`: the token behind the subscription expired; the stream ends.
 */
export interface JobChangeEvent {
  kind: 'changed' | 'reconnected' | 'expired';
  id: string | null;
  status: string | null;
  progress: number | null;
}

/** Events a slow subscriber may have waiting; past this it gets one `reconnected` instead. */
const MAX_PENDING_EVENTS = 1_000;

/** A UUID as PostgreSQL prints it (lower case, hyphenated), whatever form the client sent. */
export function normalizeUuid(id: string): string {
  const hex = id.replace(/[{}-]/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return id.toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Fans LISTEN/NOTIFY job changes out to GraphQL subscriptions (it is Grafast's subscriber: the
 * topic is a JSON {@link JobChangeTopic}). One LISTEN connection serves every subscriber of the
 * process; `subscribe` resolves once the LISTEN is in effect. After the connection drops and comes
 * back, each subscriber gets a `reconnected` event so it can re-read what it shows.
 */
export class JobChangeHub implements GrafastSubscriber<Record<string, JobChangeEvent>> {
  readonly #listener: PgListener;
  readonly #channels: JobChannels;
  readonly #rows: JobStateReader;
  #active = 0;

  /**
   * `channels`: the database's, from `loadJobChannels()`; `ownerDb`: where the rows notifications
   * name are re-read (batched, one read per burst for all subscribers), with the owner's rights.
   */
  constructor(listener: PgListener, channels: JobChannels, ownerDb: Kysely<Database>) {
    this.#listener = listener;
    this.#channels = channels;
    this.#rows = new JobStateReader(ownerDb);
  }

  /** Subscriptions whose LISTEN is in effect now (for health figures and tests). */
  get activeSubscriptions(): number {
    return this.#active;
  }

  /** Topic string for {@link subscribe}. */
  static topic(topic: JobChangeTopic): string {
    return JSON.stringify(topic);
  }

  async subscribe<TTopic extends string | number>(
    topicJson: TTopic,
  ): Promise<AsyncIterableIterator<JobChangeEvent>> {
    const topic = JSON.parse(String(topicJson)) as JobChangeTopic;
    const signal = (kind: 'reconnected' | 'expired'): JobChangeEvent => ({
      kind,
      id: topic.jobId ?? null,
      status: null,
      progress: null,
    });
    // A subscriber that falls this far behind is told to re-read instead of being sent a backlog.
    const queue = new EventQueue<JobChangeEvent>(MAX_PENDING_EVENTS, () => signal('reconnected'));
    const channel =
      topic.kind === 'org'
        ? this.#channels.org(topic.orgId)
        : this.#channels.owner(topic.orgId, topic.ownerId!);
    const unsubscribe = await this.#listener.subscribe(channel, (payload) => {
      const note = parseJobNotification(payload);
      if (!note || (topic.jobId && note.id !== topic.jobId)) return;
      void this.#rows.read(note.id).then((row) => {
        if (row === UNREADABLE) return queue.push(signal('reconnected'));
        if (!row || row.org_id !== topic.orgId) return;
        if (topic.kind === 'owner' && row.owner_id !== topic.ownerId) return;
        queue.push({ kind: 'changed', id: row.id, status: row.status, progress: row.progress });
      });
    });
    const removeReconnect = this.#listener.onReconnect(() => queue.push(signal('reconnected')));
    const cancelExpiry =
      topic.expiresAt === undefined
        ? null
        : callAt(topic.expiresAt, () => {
            queue.push(signal('expired'));
            queue.end();
          });
    this.#active += 1;
    queue.onClose(() => {
      this.#active -= 1;
      cancelExpiry?.();
      removeReconnect();
      void unsubscribe();
    });
    return queue;
  }
}

/**
 * An async iterator fed by push(); return() ends it and runs the close handlers once. When more
 * than `limit` items wait, they are replaced by the single item `overflow()` makes.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  readonly #limit: number;
  readonly #overflow: () => T;
  readonly #items: T[] = [];
  readonly #waiting: ((result: IteratorResult<T>) => void)[] = [];
  readonly #closeHandlers: (() => void)[] = [];
  #done = false;
  #ending = false;

  constructor(limit: number, overflow: () => T) {
    this.#limit = limit;
    this.#overflow = overflow;
  }

  push(item: T): void {
    if (this.#done || this.#ending) return;
    const next = this.#waiting.shift();
    if (next) next({ value: item, done: false });
    else if (this.#items.length >= this.#limit) this.#items.splice(0, Infinity, this.#overflow());
    else this.#items.push(item);
  }

  /** Ends the stream once the items already pushed have been read. */
  end(): void {
    this.#ending = true;
    if (this.#items.length === 0) void this.return();
  }

  onClose(handler: () => void): void {
    this.#closeHandlers.push(handler);
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.#items.shift();
    if (item !== undefined) {
      if (this.#ending && this.#items.length === 0) queueMicrotask(() => void this.return());
      return Promise.resolve({ value: item, done: false });
    }
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  return(): Promise<IteratorResult<T>> {
    if (!this.#done) {
      this.#done = true;
      this.#items.length = 0;
      for (const waiting of this.#waiting.splice(0)) waiting({ value: undefined, done: true });
      for (const handler of this.#closeHandlers.splice(0)) handler();
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error: unknown): Promise<IteratorResult<T>> {
    void this.return();
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
