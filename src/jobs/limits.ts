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
 * `value` when it is null (remove the setting) or a whole number from 1 to `max`.
 *
 * @throws InvalidArgumentError `<what> must be a whole number from 1 to <max>, …; got <value>`.
 */
export function checkWholeOrNull(value: unknown, max: number, what: string): number | null {
  if (value === null) return null;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= max)
    return value;
  throw new InvalidArgumentError(
    `${what} must be a whole number from 1 to ${max}, or null to remove it; got ${String(value)}`,
  );
}

/**
 * A run-time setting's function, `(executor, ...args) => value now in force`: `check` validates
 * the arguments (throwing InvalidArgumentError naming the field) and returns the SQL call's
 * values; then `select <call>` runs on `executor`, its errors translated (callSql), and the
 * one value it returns is returned.
 */
export function setting<A extends unknown[], R>(
  call: string,
  check: (...args: A) => unknown[],
): (executor: Executor, ...args: A) => Promise<R> {
  return async (executor, ...args) => {
    const values = check(...args);
    const rows = await callSql<{ value: R }>(executor, `select ${call} as value`, values);
    return rows[0]!.value;
  };
}

/**
 * `setQueueConcurrencyOn(executor, queue, maxRunning)` sets how many jobs of a queue may run at
 * once across every worker process, or removes the queue's limit (`null`). Stored in the database
 * (`jobdeck.set_queue_concurrency`), so it holds across processes and restarts; jobs over it are
 * held and start as slots free. Held jobs the new limit makes room for are released at once.
 * Returns the limit now in force.
 *
 * @throws InvalidArgumentError naming what is wrong with the queue or the limit.
 */
export const setQueueConcurrencyOn = setting<
  [queue: string, maxRunning: number | null],
  number | null
>('jobdeck.set_queue_concurrency($1, $2)', (queue, maxRunning) => {
  checkQueueName(queue);
  const what = `the concurrency limit of queue "${queue}"`;
  return [queue, checkWholeOrNull(maxRunning, MAX_CONCURRENCY_LIMIT, what)];
});

/**
 * `setQueueRateLimitOn(executor, queue, maxStarts, period?, key?)` sets how many jobs of a queue
 * may start per period across every worker process (`maxStarts` null removes the queue's rate
 * limit). Stored in the database (`jobdeck.set_queue_rate_limit`), so it holds across processes
 * and restarts and changes without one; jobs over it wait, status and attempts unchanged, and
 * start when their turn comes (starts at least `period / maxStarts` apart: GCRA, docs/recipes.md).
 * With `key` ('org', 'owner' or `{ payload: 'field' }`) each key of the queue's jobs has a budget
 * of its own, the key computed when a job is enqueued. Returns the limit now in force.
 *
 * @throws InvalidArgumentError naming what is wrong with the queue, the limit, the period or the key.
 */
export const setQueueRateLimitOn = setting<
  [queue: string, maxStarts: number | null, period?: Duration, key?: LimitKey],
  number | null
>(
  `jobdeck.set_queue_rate_limit($1, $2, $3::bigint * interval '1 millisecond', $4)`,
  (queue, maxStarts, period, key) => {
    checkQueueName(queue);
    if (maxStarts === null) return [queue, null, null, null];
    try {
      return [
        queue,
        maxStarts,
        rateOf(maxStarts, period, `the rate limit of queue "${queue}": `).periodMs,
        key === undefined ? null : keySpecOf(key, `the rate limit key of queue "${queue}"`),
      ];
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message, { cause: error });
    }
  },
);
