import pg from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from './types.ts';

/** Options for {@link createPool}. */
export interface PoolOptions {
  max?: number;
  /** Shown in pg_stat_activity, so operators can tell jobdeck's connections apart. */
  applicationName?: string;
  /**
   * The session's search_path. jobdeck's own connections set `pg_catalog, pg_temp`, so nothing
   * planted in another schema (public) can shadow what their queries call (docs/security.md).
   */
  searchPath?: string;
  /**
   * The password, asked for before each new connection (overrides the connection string's). The
   * server reads the role's password as the connection starts, so a password that may still have
   * to be set on the role is set here, before the connection is opened.
   */
  password?: () => Promise<string>;
  /**
   * The connection string leads to a transaction pooler (PgBouncer with `pool_mode = transaction`,
   * docs/connections.md): each transaction may run on another server connection. The pool then
   * sends no `options` startup parameter (PgBouncer refuses it, or drops it when told to ignore
   * it: the search_path would not hold anyway) and turns every named prepared statement into an
   * unnamed one, which the pooler passes through whole (PgBouncer before 1.21 does not track
   * named ones, and PostGraphile and Graphile Worker name theirs).
   */
  pooled?: boolean;
}

/** The search_path of every connection jobdeck opens itself: its queries name their schemas. */
export const SAFE_SEARCH_PATH = 'pg_catalog, pg_temp';

/** A node-postgres pool whose lost idle connections do not crash the process ({@link watched}). */
export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  return watched(new pg.Pool(poolConfig(connectionString, options)), options);
}

/**
 * Graphile Worker's pool behind a transaction pooler ({@link ListenSplitPool}): as
 * {@link createPool}, but its LISTEN client comes from `direct`.
 */
export function createListenSplitPool(
  connectionString: string,
  options: PoolOptions,
  direct: pg.Pool,
): ListenSplitPool {
  return watched(new ListenSplitPool(poolConfig(connectionString, options), direct), options);
}

function poolConfig(connectionString: string, options: PoolOptions): pg.PoolConfig {
  const settings = [
    ...(options.searchPath && !options.pooled
      ? [`-c search_path=${options.searchPath.replaceAll(' ', '')}`]
      : []),
  ];
  return {
    // A password of the connection string would win over one given beside it: parse it here.
    ...(options.password
      ? {
          ...(parseConnectionString(connectionString) as pg.PoolConfig),
          password: options.password,
          Client: clientAfter(options.password),
        }
      : { connectionString }),
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'jobdeck',
    ...(settings.length > 0 ? { options: settings.join(' ') } : {}),
  };
}

/**
 * The pool with an error listener: an idle client that loses its connection (server restart,
 * pg_terminate_backend) must not crash the process.
 */
function watched<P extends pg.Pool>(pool: P, options: PoolOptions): P {
  pool.on('error', (error) => {
    console.warn(`[jobdeck] idle database connection lost: ${error.message}`);
  });
  // A checked-out client whose connection drops emits 'error' on itself; unhandled, that would
  // crash the process. The query in progress still fails and its caller handles that.
  pool.on('connect', (client) => {
    client.on('error', () => {});
    if (options.pooled) unnameStatements(client);
  });
  return pool;
}

/**
 * Drops the `name` of every query the client is given as a config object: the statement is then
 * parsed, bound and run in one round trip as the unnamed statement, on whichever server
 * connection the pooler lends for it. A query object of its own (a cursor) is passed on as it is.
 */
function unnameStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (first: unknown, ...rest: unknown[]) => {
    const named =
      typeof first === 'object' &&
      first !== null &&
      typeof (first as { submit?: unknown }).submit !== 'function' &&
      (first as { name?: unknown }).name;
    return query(named ? { ...first, name: undefined } : first, ...rest);
  };
}

/**
 * Graphile Worker's pool behind a transaction pooler. Graphile Worker keeps one client of its pool
 * for `LISTEN "jobs:insert"` (how a worker hears of a new job at once instead of at its next poll),
 * and has no setting for a connection of its own for it. Through the pooler that LISTEN would
 * land on whichever server connection ran it and hear nothing: the connect that follows
 * {@link ListenSplitPool.divertNext} (called on Graphile Worker's `pool:listen:connecting` event,
 * which it emits just before asking for that client) is served by `direct` instead.
 */
export class ListenSplitPool extends pg.Pool {
  readonly #direct: pg.Pool;
  #divert = false;

  constructor(config: pg.PoolConfig, direct: pg.Pool) {
    super(config);
    this.#direct = direct;
  }

  /** The next connect is Graphile Worker's LISTEN client: it comes from the direct pool. */
  divertNext(): void {
    this.#divert = true;
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(
    callback: (
      error: Error | undefined,
      client: pg.PoolClient | undefined,
      done: () => void,
    ) => void,
  ): void;
  override connect(
    callback?: (
      error: Error | undefined,
      client: pg.PoolClient | undefined,
      done: () => void,
    ) => void,
  ): Promise<pg.PoolClient> | void {
    const from: pg.Pool = this.#divert ? this.#direct : this;
    this.#divert = false;
    if (from === this) return callback ? super.connect(callback) : super.connect();
    return callback ? from.connect(callback) : from.connect();
  }
}

/** A client class whose connections open once `first` has resolved (see PoolOptions.password). */
function clientAfter(first: () => Promise<unknown>): typeof pg.Client {
  return class extends pg.Client {
    override connect(): Promise<pg.Client>;
    override connect(callback: (error: Error | null) => void): void;
    override connect(callback?: (error: Error | null) => void): Promise<pg.Client> | void {
      const connected = first().then(() => super.connect());
      if (!callback) return connected;
      connected.then(() => callback(null), callback);
    }
  };
}

/** A Kysely instance over an existing pool; destroying it does not end the pool. */
export function createDb(pool: pg.Pool): Kysely<Database> {
  return new Kysely<Database>({
    dialect: new PostgresDialect({
      pool: {
        connect: () => pool.connect(),
        end: async () => {},
      },
    }),
  });
}
