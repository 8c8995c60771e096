import { queryRows, type Executor } from '../db/executor.ts';
import { InvalidArgumentError } from '../errors.ts';

/** Options of {@link moveToHistory}. */
export interface MoveToHistoryOptions {
  /** Jobs finished at least this many seconds ago move (JOBDECK_HISTORY_AFTER_SECONDS). */
  afterSeconds: number;
  /** Retention of succeeded jobs, in days: decides their history week. */
  succeededDays: number;
  /** Retention of failed and cancelled jobs, in days. */
  failedDays: number;
  /** Rows moved per statement; default 2000. */
  batchSize?: number;
  /** Stop starting new batches after this long (ms); default 1000. */
  budgetMs?: number;
}

/** Weeks of history partitions created ahead of the ones the jobs finishing today need. */
export const HISTORY_WEEKS_AHEAD = 2;

function checkDays(options: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(options)) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new InvalidArgumentError(`${name} must be a whole number >= 0, got ${String(value)}`);
    }
  }
}

/**
 * Creates the weekly history partitions the jobs finishing in the next {@link HISTORY_WEEKS_AHEAD}
 * weeks will move to (one window per retention); returns the names of those it created.
 */
export async function ensureHistoryPartitions(
  executor: Executor,
  options: { succeededDays: number; failedDays: number },
): Promise<string[]> {
  checkDays({ succeededDays: options.succeededDays, failedDays: options.failedDays });
  const rows = await queryRows<{ name: string }>(
    executor,
    `select p as name
       from unnest(array[$1::int, $2::int]) as r(days),
            jobdeck_private.ensure_history_partitions(
              (now() at time zone 'UTC')::date + r.days,
              (now() at time zone 'UTC')::date + r.days + 7 * $3::int) as p`,
    [options.succeededDays, options.failedDays, HISTORY_WEEKS_AHEAD],
  );
  return rows.map((row) => row.name);
}

/**
 * Moves finished jobs out of `jobs_live` into their weekly history partitions (migration 000024),
 * batch after batch until none is left or the time budget is spent; returns how many moved, and
 * whether the budget ran out first (`more`). Run by the worker's history service, never on a job's
 * path.
 */
export async function moveToHistory(
  executor: Executor,
  options: MoveToHistoryOptions,
): Promise<{ moved: number; more: boolean }> {
  checkDays({
    afterSeconds: options.afterSeconds,
    succeededDays: options.succeededDays,
    failedDays: options.failedDays,
  });
  const batchSize = options.batchSize ?? 2000;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new InvalidArgumentError(`batchSize must be a whole number >= 1`);
  const deadline = Date.now() + (options.budgetMs ?? 1000);
  let moved = 0;
  for (;;) {
    const [row] = await queryRows<{ n: number }>(
      executor,
      `select jobdeck_private.move_to_history(make_interval(secs => $1), $2, $3, $4) as n`,
      [options.afterSeconds, options.succeededDays, options.failedDays, batchSize],
    );
    const n = row?.n ?? 0;
    moved += n;
    if (n < batchSize) return { moved, more: false };
    if (Date.now() >= deadline) return { moved, more: true };
  }
}
