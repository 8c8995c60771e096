/**
 * Seed 003's (the OSINT monitor's) vocabulary, mapped onto jobdeck's in one place: its job
 * statuses, priorities and log levels, and how its resource figures derive from what workers
 * record. The REST routes and the `/ws/jobs/{job_id}` websocket both render through this file;
 * docs/rest.md prints the same tables.
 */
import { JOB_EVENT_LEVELS, type Job, type JobEventLevel } from '../db/types.ts';
import { vocabulary } from './vocabulary.ts';
import { Priority } from './policy.ts';
import { JOB_STATUSES } from './states.ts';

/**
 * The seed's `JobStatus`, and jobdeck's statuses in its words. `retrying` (a failed attempt
 * waiting for its next one) is PENDING: the job waits to run again, with `error_message` and
 * `retry_count` saying why.
 */
const status = vocabulary(JOB_STATUSES, {
  PENDING: ['waiting', 'queued', 'retrying'],
  RUNNING: ['running'],
  COMPLETED: ['succeeded'],
  FAILED: ['failed'],
  CANCELLED: ['cancelled'],
});
export const OSINT_STATUSES = status.values;
export type OsintStatus = (typeof OSINT_STATUSES)[number];
export const OSINT_STATUS_OF = status.of;
/** The jobdeck statuses a seed status stands for (a filter on `GET /jobs?status=`). */
export const jobStatusesOf = status.from;
/** Counts by jobdeck status, added up by seed status. */
export const osintCounts = status.tally;

/** The seed's `JobPriority`. */
export const OSINT_PRIORITIES = ['LOW', 'NORMAL', 'HIGH', 'URGENT'] as const;
export type OsintPriority = (typeof OSINT_PRIORITIES)[number];

/**
 * jobdeck's numeric priority (lower runs first, 0 by default) in the seed's four bands, around
 * jobdeck's named priorities ({@link Priority}: urgent -20, high -10, normal 0, low 10): URGENT
 * below -10, HIGH -10 to -1, NORMAL 0, LOW above 0. `min`/`max` null: open-ended.
 */
export const OSINT_PRIORITY_BANDS: Readonly<
  Record<OsintPriority, { min: number | null; max: number | null }>
> = {
  URGENT: { min: null, max: Priority.high - 1 },
  HIGH: { min: Priority.high, max: Priority.normal - 1 },
  NORMAL: { min: Priority.normal, max: Priority.normal },
  LOW: { min: Priority.normal + 1, max: null },
};

/** The seed's band of a jobdeck priority (see {@link OSINT_PRIORITY_BANDS}). */
export function osintPriorityOf(priority: number): OsintPriority {
  return OSINT_PRIORITIES.find((name) => {
    const { min, max } = OSINT_PRIORITY_BANDS[name];
    return (min === null || priority >= min) && (max === null || priority <= max);
  })!;
}

/** The seed's `LogLevel`, and jobdeck's log levels in its words. */
const logLevel = vocabulary(JOB_EVENT_LEVELS, ['DEBUG', 'INFO', 'WARNING', 'ERROR']);
export const OSINT_LOG_LEVELS = logLevel.values;
export type OsintLogLevel = (typeof OSINT_LOG_LEVELS)[number];
export const OSINT_LOG_LEVEL_OF = logLevel.of;
/** The jobdeck log level a seed level stands for. */
export const jobLogLevelOf = (level: OsintLogLevel): JobEventLevel => logLevel.from(level)[0]!;

/** The queue name the seed shows for a job in no named queue (Graphile Worker's parallel pool). */
export const DEFAULT_QUEUE_NAME = 'default';

/** What the resource figures are computed from (a job's row). */
export type UsageSample = Pick<
  Job,
  | 'status'
  | 'peak_rss_bytes'
  | 'cpu_ms'
  | 'started_at'
  | 'finished_at'
  | 'heartbeat_at'
  | 'updated_at'
>;

/**
 * `memory_usage_mb`: the worker process's peak resident set while the job's latest attempt ran,
 * in whole MiB (exact at concurrency 1; with several jobs in one process, the process's figure).
 */
export function memoryUsageMb(job: Pick<Job, 'peak_rss_bytes'>): number | null {
  return job.peak_rss_bytes === null ? null : Math.round(Number(job.peak_rss_bytes) / 1048576);
}

/**
 * `cpu_usage_percent`: CPU time over wall time of the latest attempt, in percent of one core (to
 * one decimal; above 100 when the process used more than one core). The worker samples `cpu_ms`
 * with each heartbeat and at the end, so the wall time runs from `started_at` to `finished_at`,
 * or for a running job to its last heartbeat (a retrying job's, to when its attempt was written).
 */
export function cpuUsagePercent(job: UsageSample): number | null {
  if (job.cpu_ms === null || !job.started_at) return null;
  const end =
    job.finished_at ?? (job.status === 'running' ? job.heartbeat_at : null) ?? job.updated_at;
  const wallMs = end.getTime() - job.started_at.getTime();
  if (wallMs <= 0) return null;
  return Math.round((Number(job.cpu_ms) / wallMs) * 1000) / 10;
}
