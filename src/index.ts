/**
 * jobdeck's library API: define tasks, enqueue jobs (standalone or in your transaction), read
 * and watch them, run workers.
 */
export {
  createJobdeck,
  type Jobdeck,
  type JobdeckOptions,
  type EnqueueCallOptions,
} from './client.ts';
export {
  defineTask,
  type TaskContext,
  type TaskDefinition,
  type ProgressValue,
} from './jobs/task.ts';
export { enqueueJobOn, enqueueJobsOn, type EnqueueOptions, type JobSpec } from './jobs/enqueue.ts';
export {
  getJob,
  listJobs,
  activeJobs,
  getJobEvents,
  type ListJobsOptions,
  type ActiveJobsOptions,
  type JobPage,
} from './jobs/repository.ts';
export {
  cancelJobOn,
  retryJobOn,
  jobStatsOn,
  type JobStats,
  type JobStatsOptions,
  type TypeStats,
} from './jobs/control.ts';
export {
  isTransientError,
  parseDuration,
  Priority,
  type PriorityName,
  type Backoff,
  type Duration,
} from './jobs/policy.ts';
export { pruneJobs, type PruneOptions } from './jobs/prune.ts';
export { loadTasks, syncTaskTypes, type TaskRegistry } from './jobs/registry.ts';
export { startWorker, type JobdeckWorker, type WorkerOptions } from './worker/runner.ts';
export { migrate } from './db/migrate.ts';
export {
  startEmbeddedPostgres,
  findEmbeddedPostgres,
  type EmbeddedPostgres,
} from './db/embedded.ts';
export { watchJob, isFinished } from './live/watch.ts';
export { PgListener } from './live/listener.ts';
export { channelName } from './live/channels.ts';
// Webhook signatures, for receivers.
export { signWebhook, verifyWebhook } from './jobs/webhooks.ts';
// Bearer tokens for the API (the server itself is the `jobdeck/server` entry point).
export {
  signToken,
  verifyToken,
  PERMISSIONS,
  type Identity,
  type Permission,
  type Role,
} from './graphql/auth.ts';
export { loadConfig, type Config } from './config.ts';
export * from './errors.ts';
export type {
  Job,
  NewJob,
  JobUpdate,
  JobEvent,
  JobStatus,
  JobAttemptError,
  Database,
} from './db/types.ts';
export { ACTIVE_STATUSES, FINISHED_STATUSES } from './db/types.ts';
