import { CompiledQuery, Kysely } from 'kysely';
import type pg from 'pg';

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
  if (executor instanceof Kysely) {
    const result = await executor.executeQuery<R>(CompiledQuery.raw(text, values));
    return result.rows;
  }
  const result = await (executor as pg.Pool).query(text, values);
  return result.rows as R[];
}
