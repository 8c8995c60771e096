import { CompiledQuery, type Kysely } from 'kysely';
import pg from 'pg';

/**
 * Anything jobdeck can run a query on: a node-postgres pool, client or pool client, or a Kysely
 * instance or transaction. Passing the caller's transaction makes jobdeck's writes part of it.
 */
export type Executor = Pick<pg.ClientBase, 'query'> | pg.Pool | Kysely<any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- any database shape

/** Runs one parameterised statement on an executor and returns its rows. */
export async function queryRows<R>(
  executor: Executor,
  text: string,
  values: unknown[],
): Promise<R[]> {
  if (isKysely(executor)) {
    const result = await executor.executeQuery<R>(CompiledQuery.raw(text, values));
    return result.rows;
  }
  if (isPool(executor)) return poolRows<R>(executor, text, values);
  const result = await executor.query(text, values);
  return result.rows as R[];
}

/**
 * Whether each statement on `executor` commits on its own (a pool, or a Kysely instance that is
 * not a transaction): a statement rolled back there may simply be sent again, which it may not
 * inside the caller's transaction.
 */
export function runsOwnTransactions(executor: Executor): boolean {
  if (isKysely(executor)) return !executor.isTransaction;
  return isPool(executor);
}

// Told apart by shape, not `instanceof`: an application's own copy of kysely or pg (another
// version than jobdeck's, not deduplicated by npm) must work as well as jobdeck's.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any database shape
function isKysely(executor: Executor): executor is Kysely<any> {
  return typeof (executor as Partial<Kysely<unknown>>).executeQuery === 'function';
}

function isPool(executor: Executor): executor is pg.Pool {
  return (
    typeof (executor as Partial<pg.Pool>).connect === 'function' &&
    typeof (executor as Partial<pg.Pool>).totalCount === 'number'
  );
}

/**
 * `pool.query` drops its connection whenever a statement fails, so every refused enqueue would
 * cost a reconnect. A statement error (the server answered) leaves the connection usable: only a
 * broken connection or a fatal error is discarded.
 */
async function poolRows<R>(pool: pg.Pool, text: string, values: unknown[]): Promise<R[]> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const result = await client.query(text, values);
    return result.rows as R[];
  } catch (error) {
    const usable =
      error instanceof pg.DatabaseError && !/^(FATAL|PANIC)$/.test(error.severity ?? '');
    if (!usable) broken = error as Error;
    throw error;
  } finally {
    client.release(broken);
  }
}
