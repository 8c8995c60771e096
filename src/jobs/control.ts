import type { Job } from '../db/types.ts';
import type { Executor } from '../db/executor.ts';
import { InvalidArgumentError, JobNotFoundError } from '../errors.ts';
import { callSql } from './db-errors.ts';
import { isJobId } from './ids.ts';
import type { JobStatus } from './states.ts';

/**
 * Cancels a job. Queued or retrying: cancelled at once and taken out of Graphile Worker's queue.
 * Running: the cancel is requested and the job's signal aborts on whichever worker runs it; the row
 * turns `cancelled` once the task stops (watch it, or read it again). Cancelling a cancelled job
 * returns it unchanged.
 *
 * @throws JobNotFoundError, InvalidJobStateError for a job that already succeeded or failed, or
 * ForbiddenError when the connection's API caller lacks the permission.
 */
export async function cancelJobOn(
  executor: Executor,
  id: string,
  reason?: string | null,
): Promise<Job> {
  if (!isJobId(id)) throw new JobNotFoundError(String(id));
  if (reason !== undefined && reason !== null && typeof reason !== 'string')
    throw new InvalidArgumentError('cancel reason must be a string');
  const rows = await callSql<Job>(
    executor,
    'select * from jobdeck.cancel_job($1::uuid, $2)',
    [id, reason ?? null],
    { jobId: id },
  );
  return rows[0]!;
}

/** Options of {@link retryJobOn}. */
export interface RetryJobOptions {
  /**
   * Keep the job's completed durable steps (default true): the retry returns their stored results
   * instead of running them again. `false` drops them, and every step runs again.
   */
  keepSteps?: boolean;
}

/**
 * Runs a failed or cancelled job again with a fresh attempt budget; its earlier errors stay in
 * `errors`, its completed durable steps too unless `keepSteps` is false.
 *
 * @throws JobNotFoundError, InvalidJobStateError for a job that is not failed or cancelled (or
 * whose key another unfinished job holds), or ForbiddenError when the connection's API caller
 * lacks the permission.
 */
export async function retryJobOn(
  executor: Executor,
  id: string,
  options: RetryJobOptions = {},
): Promise<Job> {
  if (!isJobId(id)) throw new JobNotFoundError(String(id));
  const keepSteps = options.keepSteps ?? true;
  if (typeof keepSteps !== 'boolean') throw new InvalidArgumentError('keepSteps must be a boolean');
  const rows = await callSql<Job>(
    executor,
    'select * from jobdeck.retry_job($1::uuid, keep_steps => $2::boolean)',
    [id, keepSteps],
    { jobId: id },
  );
  return rows[0]!;
}

/**
 * Why a waiting job is kept back (`jobdeck.wait_reason`, sql/api/wait_reason.sql): a pause, an
 * organisation's concurrency cap, a per-key concurrency limit, a task type's or queue's
 * concurrency limit, a rate limit (put back until its slot), or its task's RateLimitedError.
 */
export type WaitReason =
  'paused' | 'org_limit' | 'key_limit' | 'concurrency_limit' | 'rate_limit' | 'task_rate_limit';

/** Per-queue figures of {@link JobStats}, with the queue's flow-control settings. */
export interface QueueStats {
  /** null: the default queue (no name), which takes no queue settings. */
  queue: string | null;
  queued: number;
  running: number;
  retrying: number;
  /** Its jobs kept back, by reason (reasons with none left out). */
  heldBy: Partial<Record<WaitReason, number>>;
  /** `setQueueConcurrency`'s limit, or null. */
  concurrencyLimit: number | null;
  /** `setQueueRateLimit`'s limit (`key`: its key spec, `org`, `owner`, `payload:<path>`), or null. */
  rateLimit: { maxStarts: number; periodMs: number; key: string | null } | null;
  /** `setQueueFairness`'s setting, or null (the task types' own setting applies). */
  fairness: 'org' | 'off' | null;
  /** The reason text of a pause that covers the queue (its own or everything's), or null. */
  paused: string | null;
}

/** Per-type figures of {@link JobStats}. */
export interface TypeStats {
  type: string;
  /** Its jobs in status `waiting` (for their dependencies). */
  waiting: number;
  queued: number;
  running: number;
  retrying: number;
  /** Waiting jobs of the type a pause holds (`held_reason` `paused: …`). */
  paused: number;
  /** Its jobs kept back, by reason (reasons with none left out). */
  heldBy: Partial<Record<WaitReason, number>>;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Run time of succeeded jobs in the window, median and 95th percentile (null: none). */
  p50Ms: number | null;
  p95Ms: number | null;
  lastFailureAt: string | null;
  /**
   * Resource usage of the type's jobs finished in the window that were measured (null: none): the
   * average and highest peak resident memory, in MB, and CPU time, in ms. A job of a type with
   * `limits` has its own process's figures; other jobs their worker process's (docs/resource-limits.md).
   */
  peakRssMbAvg: number | null;
  peakRssMbMax: number | null;
  cpuMsAvg: number | null;
  cpuMsMax: number | null;
  /** Jobs failed in the window because an attempt went over the type's `limits`. */
  limitFailures: number;
}

/** What `jobdeck.job_stats()` returns. */
export interface JobStats {
  since: string;
  at: string;
  type: string | null;
  /** Unfinished statuses: now. Finished ones: finished within the window. */
  byStatus: Record<JobStatus, number>;
  queue: {
    depth: number;
    ready: number;
    scheduled: number;
    held: number;
    /** Of the held jobs, those a pause holds (the rest wait for a concurrency limit). */
    paused: number;
    oldestReadyAgeMs: number | null;
  };
  /**
   * Waiting jobs a limit keeps back, by reason: held by a concurrency limit, or put back by a
   * rate limit (or by their task's RateLimitedError) until their turn; and the jobs waiting for
   * their dependencies (status `waiting`).
   */
  waiting: {
    concurrencyLimit: number;
    rateLimit: number;
    /** Jobs waiting for their dependencies (status `waiting`). */
    dependencies: number;
    /** All waiting jobs kept back, by the finer reason (reasons with none left out). */
    byReason: Partial<Record<WaitReason, number>>;
  };
  byType: TypeStats[];
  /** Per queue of the unfinished jobs, with its configured limits, fairness and pause. */
  byQueue: QueueStats[];
  throughput: {
    bucketSeconds: number;
    perMinute: number;
    series: { at: string; succeeded: number; failed: number; cancelled: number }[];
  };
}

export interface JobStatsOptions {
  /** Start of the window for finished jobs (default: 24 hours ago). */
  since?: Date | string;
  /** Only this job type. */
  type?: string;
}

/** Queue and job statistics in one read (see {@link JobStats}). */
export async function jobStatsOn(
  executor: Executor,
  options: JobStatsOptions = {},
): Promise<JobStats> {
  let since: string | null = null;
  if (options.since !== undefined) {
    const date = options.since instanceof Date ? options.since : new Date(options.since);
    if (Number.isNaN(date.getTime()))
      throw new InvalidArgumentError(`since must be a valid date, got ${String(options.since)}`);
    since = date.toISOString();
  }
  if (options.type !== undefined && (typeof options.type !== 'string' || options.type === ''))
    throw new InvalidArgumentError('type must be a non-empty string');
  const rows = await callSql<{ stats: JobStats }>(
    executor,
    `select jobdeck.job_stats(coalesce($1::timestamptz, now() - interval '24 hours'), $2) as stats`,
    [since, options.type ?? null],
  );
  return rows[0]!.stats;
}

/**
 * Sends a signal to a job, by id or by the key of an unfinished job: a `ctx.waitFor(event)` of the
 * job returns `data`; a job parked waiting for `event` runs again at once. A signal sent before
 * the job waits is kept for it. Returns the job's id.
 *
 * @throws JobNotFoundError when no job has that id (or unfinished job that key),
 * InvalidJobStateError for a finished job, InvalidArgumentError for a bad event name.
 */
export async function signalJobOn(
  executor: Executor,
  target: string,
  event: string,
  data?: unknown,
): Promise<string> {
  if (typeof target !== 'string' || target === '')
    throw new InvalidArgumentError('signal needs a job id or key');
  if (typeof event !== 'string' || event.length === 0 || event.length > 200)
    throw new InvalidArgumentError('signal needs an event name of 1 to 200 characters');
  let json: string | null;
  try {
    json = data === undefined ? null : (JSON.stringify(data) ?? null);
  } catch (error) {
    throw new InvalidArgumentError(`signal data must be JSON: ${(error as Error).message}`);
  }
  const rows = await callSql<{ id: string }>(
    executor,
    'select jobdeck.signal($1::text, $2::text, $3::jsonb) as id',
    [target, event, json],
    { jobId: target },
  );
  return rows[0]!.id;
}
