import type { Executor } from '../db/executor.ts';
import { InvalidArgumentError } from '../errors.ts';
import { callSql } from './db-errors.ts';
import type { Duration } from './policy.ts';
import { keySpecOf, rateOf } from './registry.ts';
import type { LimitKey } from './task.ts';

/** A queue name as the run-time settings take it (1 to 128 characters); throws naming it. */
export function checkQueueName(queue: unknown): asserts queue is string {
  if (typeof queue !== 'string' || queue.length < 1 || queue.length > 128)
    throw new InvalidArgumentError(
      `queue must be a name of 1 to 128 characters, got ${JSON.stringify(queue) ?? String(queue)}`,
    );
}

/** Largest concurrency limit accepted (the same bound as `orgConcurrency`). */
export const MAX_CONCURRENCY_LIMIT = 100_000;

/**
 * Sets how many jobs of a queue may run at once across every worker process, or removes the
 * queue's limit (`null`). Stored in the database (`jobdeck.set_queue_concurrency`), so it holds
 * across processes and restarts; jobs over it are held and start as slots free. Held jobs the new
 * limit makes room for are released at once. Returns the limit now in force.
 *
 * @throws InvalidArgumentError naming what is wrong with the queue or the limit.
 */
export async function setQueueConcurrencyOn(
  executor: Executor,
  queue: string,
  maxRunning: number | null,
): Promise<number | null> {
  checkQueueName(queue);
  if (
    maxRunning !== null &&
    (typeof maxRunning !== 'number' ||
      !Number.isInteger(maxRunning) ||
      maxRunning < 1 ||
      maxRunning > MAX_CONCURRENCY_LIMIT)
  )
    throw new InvalidArgumentError(
      `the concurrency limit of queue "${queue}" must be a whole number from 1 to ${MAX_CONCURRENCY_LIMIT}, or null to remove it; got ${String(maxRunning)}`,
    );
  const rows = await callSql<{ limit: number | null }>(
    executor,
    'select jobdeck.set_queue_concurrency($1, $2) as "limit"',
    [queue, maxRunning],
  );
  return rows[0]?.limit ?? null;
}

/**
 * Sets how many jobs of a queue may start per period across every worker process (`maxStarts`
 * null removes the queue's rate limit). Stored in the database (`jobdeck.set_queue_rate_limit`),
 * so it holds across processes and restarts and changes without one; jobs over it wait, status
 * and attempts unchanged, and start when their turn comes (starts at least `period / maxStarts`
 * apart: GCRA, docs/recipes.md). With `key` ('org', 'owner' or `{ payload: 'field' }`) each key
 * of the queue's jobs has a budget of its own, the key computed when a job is enqueued. Returns
 * the limit now in force.
 *
 * @throws InvalidArgumentError naming what is wrong with the queue, the limit, the period or the key.
 */
export async function setQueueRateLimitOn(
  executor: Executor,
  queue: string,
  maxStarts: number | null,
  period?: Duration,
  key?: LimitKey,
): Promise<number | null> {
  checkQueueName(queue);
  let periodMs: number | null = null;
  let keySpec: string | null = null;
  if (maxStarts !== null) {
    try {
      periodMs = rateOf(maxStarts, period, `the rate limit of queue "${queue}": `).periodMs;
      if (key !== undefined) keySpec = keySpecOf(key, `the rate limit key of queue "${queue}"`);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message, { cause: error });
    }
  }
  const rows = await callSql<{ limit: number | null }>(
    executor,
    `select jobdeck.set_queue_rate_limit($1, $2, $3::bigint * interval '1 millisecond', $4) as "limit"`,
    [queue, maxStarts, periodMs, keySpec],
  );
  return rows[0]?.limit ?? null;
}
