/**
 * jobdeck's library API: define tasks, enqueue jobs (standalone or in your transaction), read
 * and watch them, run workers. Task modules, applications and jobdeck's own built-in tasks import
 * only from here (`'jobdeck'`) and from `'jobdeck/server'`.
 */
import './node-version.ts';
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
  type LimitKey,
  type KeyConcurrency,
  type RateLimit,
} from './jobs/task.ts';
export { TASK_CATEGORIES, DEFAULT_TASK_CATEGORY, type TaskCategory } from './jobs/categories.ts';
export {
  enqueueJobOn,
  type EnqueueArgs,
  enqueueJobsOn,
  type EnqueueOptions,
  type EnqueueSettings,
  type JobSpec,
} from './jobs/enqueue.ts';
export {
  enqueueGraphOn,
  type GraphJobSpec,
  type JobGraph,
  type ParentResult,
} from './jobs/graph.ts';
export {
  getJob,
  listJobs,
  activeJobs,
  getJobEvents,
  getJobSteps,
  type ListJobsOptions,
  type ActiveJobsOptions,
  type JobPage,
} from './jobs/repository.ts';
export {
  cancelJobOn,
  retryJobOn,
  signalJobOn,
  jobStatsOn,
  type RetryJobOptions,
  type JobStats,
  type JobStatsOptions,
  type TypeStats,
  type QueueStats,
  type WaitReason,
} from './jobs/control.ts';
export { setQueueConcurrencyOn, setQueueRateLimitOn } from './jobs/limits.ts';
export {
  setTemplateOn,
  deleteTemplateOn,
  listTemplatesOn,
  enqueueFromTemplateOn,
  type TemplateDefinition,
  type JobTemplate,
  type PublicJobTemplate,
} from './jobs/templates.ts';
export {
  pauseOn,
  resumeOn,
  listPausesOn,
  type PauseTarget,
  type PauseScope,
  type PauseOptions,
  type Pause,
  type PauseResult,
  type ResumeResult,
  type PauseListing,
} from './jobs/pauses.ts';
export {
  setOrgWeightOn,
  setQueueFairnessOn,
  MAX_ORG_WEIGHT,
  type Fairness,
} from './jobs/fairness.ts';
export {
  isTransientError,
  parseDuration,
  Priority,
  type PriorityName,
  type Backoff,
  type Duration,
} from './jobs/policy.ts';
// What task modules need besides defineTask: a sleep their cancel signal interrupts, and the zod
// that payload schemas are written with (the same copy jobdeck checks them with).
export { sleep } from './util/sleep.ts';
export { z } from 'zod';
export { pruneJobs, type PruneOptions, type PruneResult } from './jobs/prune.ts';
export { loadTasks, syncTaskTypes, type TaskRegistry } from './jobs/registry.ts';
export { startWorker, type JobdeckWorker, type WorkerOptions } from './worker/runner.ts';
export { migrate } from './db/migrate.ts';
export {
  startEmbeddedPostgres,
  findEmbeddedPostgres,
  type EmbeddedPostgres,
} from './db/embedded.ts';
export {
  watchBatch,
  watchJob,
  type WatchBatchOptions,
  type WatchJobOptions,
} from './live/watch.ts';
export {
  enqueueBatchOn,
  getBatch,
  cancelBatchOn,
  batchPercent,
  MAX_BATCH_JOBS,
  type Batch,
  type BatchOutcome,
  type BatchStatus,
  type EnqueueBatchOptions,
} from './batches/batches.ts';
export { PgListener } from './live/listener.ts';
export {
  JobChannels,
  loadJobChannels,
  parseJobNotification,
  type JobNotification,
} from './live/channels.ts';
// Webhook signatures, for receivers.
export { signWebhook, verifyWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './jobs/webhooks.ts';
// Where webhooks may go (the SSRF guard), and the delivery that connects only where it checked.
export {
  checkWebhookUrl,
  redactWebhookUrl,
  resolveWebhookTarget,
  webhookAllowList,
  type ResolvedAddress,
  type WebhookLookup,
} from './jobs/webhook-targets.ts';
export { postWebhook, type PostWebhookOptions, type WebhookAnswer } from './jobs/webhook-post.ts';
export { postSignedJson, type SignedPostOptions } from './jobs/signed-post.ts';
// E-mail notifications: the checks, the message and its sending (the built-in deliver_email).
export {
  checkEmailNotification,
  MAX_EMAIL_RECIPIENTS,
  NOTIFY_EVENTS,
  type EmailNotification,
  type NotifyEvent,
  type StoredEmailNotification,
} from './jobs/email-notification.ts';
export {
  renderJobEmail,
  redactSmtpUrl,
  sendEmail,
  type JobEmail,
  type SendEmailOptions,
} from './jobs/email-send.ts';
export { readDeliverySubject, type DeliverySubject } from './jobs/deliveries.ts';
export type { AllowList } from './util/addresses.ts';
// Bearer tokens for the API (the server itself is the `jobdeck/server` entry point).
export { signToken, verifyToken } from './auth/tokens.ts';
export { signScopedToken, type ScopedTokenOptions } from './auth/scoped-tokens.ts';
export { loadJwtSecret, loadWebhookSecret } from './auth/secrets.ts';
export {
  PERMISSIONS,
  type Identity,
  type Permission,
  type Role,
  type TokenScope,
} from './auth/identity.ts';
export { loadConfig, resolveConfig, type Config } from './config.ts';
export * from './errors.ts';
export type {
  Job,
  NewJob,
  JobUpdate,
  JobEvent,
  JobStep,
  JobAttemptError,
  Database,
} from './db/types.ts';
// The statuses and what each allows, as every surface of jobdeck uses them.
export {
  JOB_STATUSES,
  ACTIVE_STATUSES,
  DEPENDENCY_FAILURE_POLICIES,
  type DependencyFailurePolicy,
  FINISHED_STATUSES,
  isFinished,
  canCancel,
  canRetry,
  type JobStatus,
} from './jobs/states.ts';
