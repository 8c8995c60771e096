import { Kysely, PostgresDialect } from 'kysely';
import type pg from 'pg';
import type { Database } from '../db/types.ts';
import { BatchNotFoundError, JobNotFoundError } from '../errors.ts';
import { pgSettingsFor, type Identity } from './identity.ts';

/**
 * Runs `fn` in a transaction on the API pool, switched to the caller's role and claims exactly as
 * GraphQL requests are: row-level security decides what the REST routes and event streams see,
 * as it does for GraphQL. `db` is a Kysely instance bound to that transaction: pass it to the
 * functions of src/jobs/, which then read and act as the caller.
 */
export async function withIdentity<T>(
  apiPool: pg.Pool,
  identity: Identity | null,
  fn: (scope: { client: pg.PoolClient; db: Kysely<Database> }) => Promise<T>,
): Promise<T> {
  const client = await apiPool.connect();
  let broken = false;
  try {
    await client.query('begin');
    const settings = Object.entries(pgSettingsFor(identity));
    await client.query(
      `select ${settings.map((_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, true)`).join(', ')}`,
      settings.flat(),
    );
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({
        pool: {
          // Every query of this Kysely instance runs on the one transaction's client.
          connect: async () =>
            ({
              query: (...args: Parameters<pg.PoolClient['query']>) => client.query(...args),
              release() {},
            }) as unknown as pg.PoolClient,
          end: async () => {},
        },
      }),
    });
    const result = await fn({ client, db });
    await client.query('commit');
    return result;
  } catch (error) {
    // A connection that cannot even roll back is dropped rather than reused.
    await client.query('rollback').catch(() => {
      broken = true;
    });
    throw error;
  } finally {
    client.release(broken || undefined);
  }
}

/**
 * As {@link withIdentity}, for a read that may be served a little behind: on `readPool` (the
 * replica's API pool with `JOBDECK_REPLICA_URL`, else the API pool itself), and once more on
 * `apiPool` when the replica does not have the row: a job or batch created a moment ago may not
 * have been replayed there yet, and a caller who just made it must not be told it does not exist
 * (docs/connections.md, "Read replicas"). A row the replica has is answered as the replica has
 * it, up to its replication lag behind.
 */
export async function withReadIdentity<T>(
  pools: { apiPool: pg.Pool; readPool: pg.Pool },
  identity: Identity | null,
  fn: (scope: { client: pg.PoolClient; db: Kysely<Database> }) => Promise<T>,
): Promise<T> {
  if (pools.readPool === pools.apiPool) return withIdentity(pools.apiPool, identity, fn);
  try {
    return await withIdentity(pools.readPool, identity, fn);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    return withIdentity(pools.apiPool, identity, fn);
  }
}

/** A "not found" of jobdeck's (its classes, or an HTTP 404 a route threw). */
function isNotFound(error: unknown): boolean {
  return (
    error instanceof JobNotFoundError ||
    error instanceof BatchNotFoundError ||
    (error as { statusCode?: unknown } | null)?.statusCode === 404
  );
}
