import pg from 'pg';
import type { Logger } from '../logger.ts';

export type NotificationHandler = (payload: string | undefined, channel: string) => void;

export interface ListenerOptions {
  logger?: Logger;
  /** First reconnect delay; doubles up to `maxBackoffMs`. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * One LISTEN connection shared by any number of subscribers. `subscribe` resolves once the LISTEN
 * is in effect, so "subscribe, then read current state" never misses a change. A dropped
 * connection is re-established with backoff; subscribers learn of it through `onReconnect` and
 * should re-read, since notifications sent while disconnected are gone.
 */
export class PgListener {
  readonly #connectionString: string;
  readonly #options: Required<Omit<ListenerOptions, 'logger'>> & { logger: Logger | undefined };
  readonly #handlers = new Map<string, Set<NotificationHandler>>();
  readonly #reconnectHandlers = new Set<() => void>();
  #client: pg.Client | null = null;
  #connecting: Promise<pg.Client> | null = null;
  #closed = false;
  #backoff: number;
  #timer: NodeJS.Timeout | null = null;
  /** LISTEN/UNLISTEN run one at a time, in call order (a pg client takes one query at a time). */
  #commands: Promise<unknown> = Promise.resolve();

  constructor(connectionString: string, options: ListenerOptions = {}) {
    this.#connectionString = connectionString;
    this.#options = {
      logger: options.logger,
      minBackoffMs: options.minBackoffMs ?? 100,
      maxBackoffMs: options.maxBackoffMs ?? 5000,
    };
    this.#backoff = this.#options.minBackoffMs;
  }

  /** Subscribes to a channel; resolves to an unsubscribe function once LISTEN is active. */
  async subscribe(channel: string, handler: NotificationHandler): Promise<() => Promise<void>> {
    if (this.#closed) throw new Error('listener is closed');
    let set = this.#handlers.get(channel);
    const isNew = !set;
    if (!set) {
      set = new Set();
      this.#handlers.set(channel, set);
    }
    set.add(handler);
    const client = await this.#connect();
    if (isNew && this.#client === client) {
      await this.#command(client, `LISTEN ${pg.escapeIdentifier(channel)}`);
    }
    return async () => {
      const current = this.#handlers.get(channel);
      if (!current?.delete(handler) || current.size > 0) return;
      this.#handlers.delete(channel);
      const client = this.#client;
      if (client)
        await this.#command(client, `UNLISTEN ${pg.escapeIdentifier(channel)}`).catch(() => {});
    };
  }

  /** Called after every reconnect (not the first connect). Returns a remover. */
  onReconnect(handler: () => void): () => void {
    this.#reconnectHandlers.add(handler);
    return () => this.#reconnectHandlers.delete(handler);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    const client = this.#client ?? (await this.#connecting?.catch(() => null));
    this.#client = null;
    this.#handlers.clear();
    await client?.end().catch(() => {});
  }

  #connect(): Promise<pg.Client> {
    if (this.#client) return Promise.resolve(this.#client);
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = null;
    });
    return this.#connecting;
  }

  #command(client: pg.Client, sql: string): Promise<unknown> {
    const run = this.#commands.then(() => client.query(sql));
    this.#commands = run.catch(() => {});
    return run;
  }

  async #open(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.#connectionString,
      application_name: 'jobdeck-listener',
    });
    client.on('notification', (message) => {
      for (const handler of this.#handlers.get(message.channel) ?? []) {
        try {
          handler(message.payload, message.channel);
        } catch (error) {
          this.#options.logger?.warn(`notification handler failed: ${(error as Error).message}`);
        }
      }
    });
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, new Error('connection ended')));
    await client.connect();
    for (const channel of this.#handlers.keys()) {
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      throw new Error('listener is closed');
    }
    this.#client = client;
    this.#backoff = this.#options.minBackoffMs;
    return client;
  }

  #lost(client: pg.Client, error: Error): void {
    if (this.#client !== client) return;
    this.#client = null;
    client.end().catch(() => {});
    if (this.#closed) return;
    this.#options.logger?.warn(`LISTEN connection lost (${error.message}); reconnecting`);
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#timer || this.#closed) return;
    const delay = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, this.#options.maxBackoffMs);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#connect().then(
        () => {
          for (const handler of this.#reconnectHandlers) handler();
        },
        (error: Error) => {
          this.#options.logger?.warn(
            `LISTEN reconnect failed (${error.message}); retrying in ${this.#backoff} ms`,
          );
          this.#scheduleReconnect();
        },
      );
    }, delay);
    this.#timer.unref();
  }
}
