import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from './types.ts';

/** Options for {@link createPool}. */
export interface PoolOptions {
  max?: number;
  /** Shown in pg_stat_activity, so operators can tell jobdeck's connections apart. */
  applicationName?: string;
  /**
   * Role every connection starts as (set at connect time, before any query), e.g. the API's
   * jobdeck_api; unset keeps the connection string's user.
   */
  role?: string;
}

/**
 * A node-postgres pool with an error listener: an idle client that loses its connection (server
 * restart, pg_terminate_backend) must not crash the process.
 */
export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'jobdeck',
    ...(options.role ? { options: `-c role=${options.role}` } : {}),
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
