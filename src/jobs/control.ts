import type { Job } from '../db/types.ts';
import { queryRows, type Executor } from '../db/executor.ts';
import { InvalidArgumentError, InvalidJobStateError, JobNotFoundError } from '../errors.ts';
import { ARGUMENT_ERROR_CODES } from './enqueue.ts';
import { isJobId } from './repository.ts';

/** Turns the control functions' JD010/JD011/JD004 errors into jobdeck's error classes. */
function mapControlError(error: unknown, id: string): unknown {
  const e = error as { code?: string; message?: string; detail?: string };
  if (e.code && ARGUMENT_ERROR_CODES.has(e.code))
    return new InvalidArgumentError(e.message ?? String(error), { cause: error });
  switch (e.code) {
    case 'JD010':
      return new JobNotFoundError(id, { cause: error });
    case 'JD011': {
      let status = 'unknown';
      try {
        status = (JSON.parse(e.detail ?? '{}') as { status?: string }).status ?? status;
      } catch {
        /* keep unknown */
      }
      return new InvalidJobStateError(id, status, e.message ?? 'the job state forbids it', {
        cause: error,
      });
    }
    default:
      return error;
  }
}

/**
 * Cancels a job. Queued or retrying: cancelled at once and taken out of Graphile Worker's queue.
 * Running: the cancel is requested and the job's signal aborts on whichever worker runs it; the row
 * turns `cancelled` once the task stops (watch it, or read it again). Cancelling a cancelled job
 * returns it unchanged.
 *
 * @throws JobNotFoundError, or InvalidJobStateError for a job that already succeeded or failed.
 */
export async function cancelJobOn(
  executor: Executor,
  id: string,
  reason?: string | null,
): Promise<Job> {
  if (!isJobId(id)) throw new JobNotFoundError(String(id));
  if (reason !== undefined && reason !== null && typeof reason !== 'string')
    throw new InvalidArgumentError('cancel reason must be a string');
  try {
    const rows = await queryRows<Job>(executor, 'select * from jobdeck.cancel_job($1::uuid, $2)', [
      id,
      reason ?? null,
    ]);
    return rows[0]!;
  } catch (error) {
    throw mapControlError(error, id);
  }
}

/**
 * Runs a failed or cancelled job again with a fresh attempt budget; its earlier errors stay in
 * `errors`.
 *
 * @throws JobNotFoundError, or InvalidJobStateError for a job that is not failed or cancelled.
 */
export async function retryJobOn(executor: Executor, id: string): Promise<Job> {
  if (!isJobId(id)) throw new JobNotFoundError(String(id));
  try {
    const rows = await queryRows<Job>(executor, 'select * from jobdeck.retry_job($1::uuid)', [id]);
    return rows[0]!;
  } catch (error) {
    throw mapControlError(error, id);
  }
}

/** Per-type figures of {@link JobStats}. */
export interface TypeStats {
  type: string;
  queued: number;
  running: number;
  retrying: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Run time of succeeded jobs in the window, median and 95th percentile (null: none). */
  p50Ms: number | null;
  p95Ms: number | null;
  lastFailureAt: string | null;
}

/** What `jobdeck.job_stats()` returns. */
export interface JobStats {
  since: string;
  at: string;
  type: string | null;
  /** Unfinished statuses: now. Finished ones: finished within the window. */
  byStatus: Record<
    'queued' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'cancelled',
    number
  >;
  queue: {
    depth: number;
    ready: number;
    scheduled: number;
    held: number;
    oldestReadyAgeMs: number | null;
  };
  byType: TypeStats[];
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
  try {
    const rows = await queryRows<{ stats: JobStats }>(
      executor,
      `select jobdeck.job_stats(coalesce($1::timestamptz, now() - interval '24 hours'), $2) as stats`,
      [since, options.type ?? null],
    );
    return rows[0]!.stats;
  } catch (error) {
    throw mapControlError(error, '');
  }
}
