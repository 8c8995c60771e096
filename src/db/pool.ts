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
}

/** The search_path of every connection jobdeck opens itself: its queries name their schemas. */
export const SAFE_SEARCH_PATH = 'pg_catalog, pg_temp';

/**
 * A node-postgres pool with an error listener: an idle client that loses its connection (server
 * restart, pg_terminate_backend) must not crash the process.
 */
export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  const settings = [
    ...(options.searchPath ? [`-c search_path=${options.searchPath.replaceAll(' ', '')}`] : []),
  ];
  const pool = new pg.Pool({
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
  });
  pool.on('error', (error) => {
    console.warn(`[jobdeck] idle database connection lost: ${error.message}`);
  });
  // A checked-out client whose connection drops emits 'error' on itself; unhandled, that would
  // crash the process. The query in progress still fails and its caller handles that.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
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
