import type pg from 'pg';
import type { GrafastSubscriber } from 'postgraphile/grafast';
import { channelName, parseJobNotification } from './channels.ts';
import type { PgListener } from './listener.ts';

/**
 * Which changes a subscriber gets. The channel is always derived from the verified identity
 * (`jobdeck:owner:<user>` or `jobdeck:org:<org>`), never from a job id a client sent, so knowing
 * an id teaches nothing about a job one may not see.
 */
export interface JobChangeTopic {
  kind: 'owner' | 'org';
  /** The owner (kind owner) or organisation (kind org) whose channel to listen on. */
  id: string;
  /** Owner channels span organisations: only jobs of this one are passed on. */
  orgId?: string;
  /** Only changes of this job. */
  jobId?: string;
}

/** One change as subscribers see it; `reconnected` means "changes may have been missed: re-read". */
export interface JobChangeEvent {
  kind: 'changed' | 'reconnected';
  id: string | null;
  status: string | null;
  progress: number | null;
}

const ORG_CACHE_SIZE = 10_000;
/** Events a slow subscriber may have waiting; past this it gets one `reconnected` instead. */
const MAX_PENDING_EVENTS = 1_000;

/**
 * Fans LISTEN/NOTIFY job changes out to GraphQL subscriptions (it is Grafast's subscriber: the
 * topic is a JSON {@link JobChangeTopic}). One LISTEN connection serves every subscriber of the
 * process; `subscribe` resolves once the LISTEN is in effect. After the connection drops and comes
 * back, each subscriber gets a `reconnected` event so it can re-read what it shows.
 */
export class JobChangeHub implements GrafastSubscriber<Record<string, JobChangeEvent>> {
  readonly #listener: PgListener;
  readonly #pool: pg.Pool;
  /** A job's organisation never changes, so it is looked up once per job. */
  readonly #orgs = new Map<string, string | null>();
  #active = 0;

  /** Subscriptions whose LISTEN is in effect now (for health figures and tests). */
  get activeSubscriptions(): number {
    return this.#active;
  }

  constructor(listener: PgListener, pool: pg.Pool) {
    this.#listener = listener;
    this.#pool = pool;
  }

  /** Topic string for {@link subscribe}. */
  static topic(topic: JobChangeTopic): string {
    return JSON.stringify(topic);
  }

  async subscribe<TTopic extends string | number>(
    topicJson: TTopic,
  ): Promise<AsyncIterableIterator<JobChangeEvent>> {
    const topic = JSON.parse(String(topicJson)) as JobChangeTopic;
    // A subscriber that falls this far behind is told to re-read instead of being sent a backlog.
    const queue = new EventQueue<JobChangeEvent>(MAX_PENDING_EVENTS, () => ({
      kind: 'reconnected',
      id: topic.jobId ?? null,
      status: null,
      progress: null,
    }));
    // Notifications are checked one after another so events keep their order.
    let chain = Promise.resolve();
    const unsubscribe = await this.#listener.subscribe(
      channelName(topic.kind, topic.id),
      (payload) => {
        const note = parseJobNotification(payload);
        if (!note || (topic.jobId && note.id !== topic.jobId)) return;
        chain = chain.then(async () => {
          if (topic.orgId && (await this.#orgOf(note.id)) !== topic.orgId) return;
          queue.push({
            kind: 'changed',
            id: note.id,
            status: note.status,
            progress: note.progress,
          });
        });
      },
    );
    const removeReconnect = this.#listener.onReconnect(() =>
      queue.push({ kind: 'reconnected', id: topic.jobId ?? null, status: null, progress: null }),
    );
    this.#active += 1;
    queue.onClose(() => {
      this.#active -= 1;
      removeReconnect();
      void unsubscribe();
    });
    return queue;
  }

  async #orgOf(jobId: string): Promise<string | null> {
    if (this.#orgs.has(jobId)) return this.#orgs.get(jobId) ?? null;
    const { rows } = await this.#pool
      .query<{ org_id: string | null }>('select org_id from jobdeck.jobs where id = $1', [jobId])
      .catch(() => ({ rows: [] as { org_id: string | null }[] }));
    const org = rows[0]?.org_id ?? null;
    if (rows.length > 0) {
      if (this.#orgs.size >= ORG_CACHE_SIZE) this.#orgs.delete(this.#orgs.keys().next().value!);
      this.#orgs.set(jobId, org);
    }
    return org;
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

  constructor(limit: number, overflow: () => T) {
    this.#limit = limit;
    this.#overflow = overflow;
  }

  push(item: T): void {
    if (this.#done) return;
    const next = this.#waiting.shift();
    if (next) next({ value: item, done: false });
    else if (this.#items.length >= this.#limit) this.#items.splice(0, Infinity, this.#overflow());
    else this.#items.push(item);
  }

  onClose(handler: () => void): void {
    this.#closeHandlers.push(handler);
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
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
