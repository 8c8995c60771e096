import { Kysely, PostgresDialect } from 'kysely';
import type pg from 'pg';
import type { Database } from '../db/types.ts';
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
