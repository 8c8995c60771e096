/**
 * The job statuses and the rules about them, defined once: the repository, the REST and GraphQL
 * surfaces, the CLI and the dashboard (which the server hands them to) all take them from here.
 * docs/job-states.md draws the same machine. No imports: the CLI's parser loads this file.
 */

/** Every status a tracked job can have (the `status_is_known` CHECK constraint allows these). */
export type JobStatus =
  'waiting' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'retrying';

/** Every status, in the order of a job's life. */
export const JOB_STATUSES = [
  'waiting',
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'retrying',
] as const satisfies readonly JobStatus[];

/**
 * Statuses of a job that is not finished yet. `waiting`: enqueued with dependencies that have not
 * all succeeded; it holds no Graphile job until they have (docs/job-states.md).
 */
export const ACTIVE_STATUSES = [
  'waiting',
  'queued',
  'running',
  'retrying',
] as const satisfies JobStatus[];
/** Statuses a job never leaves (until a retry). */
export const FINISHED_STATUSES = [
  'succeeded',
  'failed',
  'cancelled',
] as const satisfies JobStatus[];

export type ActiveStatus = (typeof ACTIVE_STATUSES)[number];
export type FinishedStatus = (typeof FINISHED_STATUSES)[number];

/**
 * Where each status may go next. Besides the worker's path (queued → running → an end), an
 * attempt that ends before it is marked running goes from queued or retrying straight to its end
 * in one write (docs/performance.md); a shutdown past its deadline puts the job back in the
 * queue (`queued` again); a cancel and a retry by hand are the control functions' edges. A status
 * listed as its own successor is written again without changing (a held job, a requeue, another
 * failed attempt before the job was marked running).
 */
export const TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  // a waiting job is queued when its dependencies have succeeded, cancelled when one failed
  // (policy `cancel`) or by hand
  waiting: ['queued', 'cancelled'],
  queued: ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'retrying'],
  running: ['queued', 'succeeded', 'failed', 'cancelled', 'retrying'],
  retrying: ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'retrying'],
  succeeded: [],
  failed: ['queued'],
  // back to waiting: a job cancelled because a dependency failed, when that dependency is retried
  cancelled: ['queued', 'waiting'],
};

/**
 * What a dependant does when one of its dependencies fails for good or is cancelled: `cancel`
 * (the default) cancels it, and its own waiting dependants with the same policy; `run` runs it
 * once every dependency has finished, whatever their outcome.
 */
export type DependencyFailurePolicy = 'cancel' | 'run';

/** Every {@link DependencyFailurePolicy}. */
export const DEPENDENCY_FAILURE_POLICIES = [
  'cancel',
  'run',
] as const satisfies readonly DependencyFailurePolicy[];

/**
 * Statuses `jobdeck.cancel_job` acts on (sql/control/cancel_job.sql decides; this reports it).
 * Waiting, queued and retrying jobs are cancelled at once, running ones through their worker. A cancelled
 * job is returned unchanged, so it does not count as one that can be cancelled.
 */
export const CANCELLABLE_STATUSES = ACTIVE_STATUSES;
/**
 * Statuses `jobdeck.retry_job` acts on (sql/control/retry_job.sql decides; this reports it). The
 * database also refuses a retry while another unfinished job holds the job's key, which only it
 * can know.
 */
export const RETRYABLE_STATUSES = ['failed', 'cancelled'] as const satisfies JobStatus[];

/** True for one of {@link JOB_STATUSES}. */
export function isJobStatus(value: unknown): value is JobStatus {
  return (JOB_STATUSES as readonly unknown[]).includes(value);
}

/** True while a job is waiting, queued, running or retrying. */
export function isActive(job: { status: string }): boolean {
  return (ACTIVE_STATUSES as readonly string[]).includes(job.status);
}

/** True once a job will not change again (until someone retries it). */
export function isFinished(job: { status: string }): boolean {
  return (FINISHED_STATUSES as readonly string[]).includes(job.status);
}

/** Whether a job may move from one status to another (see {@link TRANSITIONS}). */
export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Whether cancelling the job would act on it (see {@link CANCELLABLE_STATUSES}). */
export function canCancel(job: { status: string }): boolean {
  return (CANCELLABLE_STATUSES as readonly string[]).includes(job.status);
}

/** Whether the job may be retried by hand (see {@link RETRYABLE_STATUSES}). */
export function canRetry(job: { status: string }): boolean {
  return (RETRYABLE_STATUSES as readonly string[]).includes(job.status);
}

/**
 * Attempts spent of the current budget, out of `max_attempts`: all attempts since the last manual
 * retry. `attempts` itself counts every attempt of the job's life, so attempt numbers (in
 * `errors` and events) never repeat; a retry by hand starts a fresh budget (docs/job-states.md).
 */
export function budgetAttempts(job: { attempts: number; attempts_before_retry: number }): number {
  return job.attempts - job.attempts_before_retry;
}
