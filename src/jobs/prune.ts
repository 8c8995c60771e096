import { queryRows, type Executor } from '../db/executor.ts';
import { InvalidArgumentError } from '../errors.ts';

export interface PruneOptions {
  /** Succeeded jobs finished more than this many days ago are deleted (or dropped with their partition). */
  succeededDays: number;
  /** Failed and cancelled jobs are kept longer, for post-mortems. */
  failedDays: number;
  /** Rows deleted per statement, so pruning never holds long locks. */
  batchSize?: number;
}

// The rows still in jobs_live (purge_on 'infinity', a literal so the history partitions are not
// planned): jobs past their retention before the history service moved them (a retention of 0
// days, or a backlog after the upgrade to 000024). Batches through the finished-jobs partial
// index; a statement trigger deletes the jobs' events, steps and signals.
const PRUNE_SQL = `
  with doomed as (
    select id from jobdeck.jobs
     where purge_on = 'infinity'
       and ((status = 'succeeded' and finished_at < now() - make_interval(secs => $1::float8 * 86400))
         or (status in ('failed', 'cancelled') and finished_at < now() - make_interval(secs => $2::float8 * 86400)))
     limit $3
  ), gone as (
    delete from jobdeck.jobs j using doomed where j.id = doomed.id and j.purge_on = 'infinity' returning 1
  )
  select count(*)::int as n from gone`;

/** What {@link pruneJobs} removed. */
export interface PruneResult {
  /** Jobs gone: deleted from jobs_live plus those of the dropped partitions. */
  deleted: number;
  /** The weekly history partitions dropped whole (their week is past). */
  droppedPartitions: string[];
}

/**
 * Removes finished jobs past their retention, with their events, steps and signals: drops the
 * weekly history partitions whose week is past (migration 000024: no row-by-row delete), and
 * deletes, in batches, the finished jobs past retention that are still in jobs_live.
 */
export async function pruneJobs(executor: Executor, options: PruneOptions): Promise<PruneResult> {
  for (const [name, value] of Object.entries({
    succeededDays: options.succeededDays,
    failedDays: options.failedDays,
  })) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new InvalidArgumentError(`${name} must be a number of days >= 0, got ${String(value)}`);
    }
  }
  const batchSize = options.batchSize ?? 5000;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new InvalidArgumentError(`batchSize must be a whole number >= 1`);
  const dropped = await queryRows<{ partition: string; jobs: string }>(
    executor,
    'select partition, jobs from jobdeck_private.drop_history_partitions()',
    [],
  );
  let deleted = dropped.reduce((sum, row) => sum + Number(row.jobs), 0);
  for (;;) {
    const [row] = await queryRows<{ n: number }>(executor, PRUNE_SQL, [
      options.succeededDays,
      options.failedDays,
      batchSize,
    ]);
    const n = row?.n ?? 0;
    deleted += n;
    if (n < batchSize) break;
  }
  // Rate limit buckets idle for a day mean what no bucket means (their time has long passed);
  // per-key limits would otherwise keep a row for every key ever seen.
  await queryRows(
    executor,
    `delete from jobdeck_private.rate_buckets where tat < now() - interval '1 day'`,
    [],
  );
  return { deleted, droppedPartitions: dropped.map((row) => row.partition) };
}
