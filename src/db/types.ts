import type { StoredEmailNotification } from '../jobs/email-notification.ts';
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { DependencyFailurePolicy, JobStatus } from '../jobs/states.ts';

/** One failed attempt, as stored in `jobs.errors`. */
export interface JobAttemptError {
  at: string;
  attempt: number;
  message: string;
  stack?: string | null;
  name?: string;
  /** `true` when the error was classified as not worth retrying. */
  permanent?: boolean;
  /** `true` when the attempt was cut short by a lost worker (crash rescue). */
  interrupted?: boolean;
  /** `true` when the attempt ran past its type's timeout. */
  timedOut?: boolean;
}

type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A timestamp the database fills in when the insert leaves it out. */
type DefaultedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** int8 columns arrive as strings from node-postgres (they can exceed 2^53). */
type Int8 = ColumnType<string, string | number | bigint, string | number | bigint>;

export interface JobsTable {
  id: Generated<string>;
  type: string;
  queue: string | null;
  status: Generated<JobStatus>;
  priority: Generated<number>;
  progress: Generated<number>;
  current_step: string | null;
  total_steps: number | null;
  completed_steps: Generated<number>;
  payload: ColumnType<unknown, string, string>;
  result: ColumnType<unknown, string | null, string | null>;
  errors: ColumnType<JobAttemptError[], string, string>;
  /** Attempts started over the job's whole life: the latest attempt's number (never reset). */
  attempts: Generated<number>;
  /** Attempts spent before the last manual retry (migration 000014); 0 until a retry. */
  attempts_before_retry: Generated<number>;
  max_attempts: Generated<number>;
  run_at: DefaultedTimestamp;
  created_at: DefaultedTimestamp;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  updated_at: DefaultedTimestamp;
  heartbeat_at: Timestamp | null;
  owner_id: string | null;
  org_id: string | null;
  related_type: string | null;
  related_id: string | null;
  key: string | null;
  metadata: ColumnType<Record<string, unknown>, string, string>;
  cancel_requested_at: Timestamp | null;
  cancel_reason: string | null;
  worker_id: string | null;
  gw_job_id: Int8 | null;
  eta_at: Timestamp | null;
  peak_rss_bytes: Int8 | null;
  cpu_ms: Int8 | null;
  /** Set while the job waits for its organisation to drop below a concurrency cap. */
  held_at: Timestamp | null;
  /**
   * Why a waiting job is not running (migration 000016): the concurrency limit holding it
   * (`held: …`), a pause (`paused: …`, migration 000015), or the rate limit that put it back (`rate limited: …, next at …`).
   */
  held_reason: string | null;
  /** The job's key under its type's per-key concurrency limit (computed at enqueue). */
  concurrency_key: string | null;
  /** The job's key under its type's per-key rate limit (computed at enqueue). */
  rate_key: string | null;
  /** The job's key under its queue's per-key rate limit (computed at enqueue). */
  queue_rate_key: string | null;
  /**
   * The day from which the job may be dropped with its history partition (migration 000024; node-postgres
   * reads `'infinity'`, a job not moved to history yet, as `Infinity`). Set by the history service.
   */
  purge_on: Generated<Date | number>;
  /** Times its task said "rate limited, retry after" (RateLimitedError); not attempts. */
  rate_deferrals: Generated<number>;
  /** The turn a fair job was given (its Graphile job's run_at); null when it was not given one. */
  fair_at: Timestamp | null;
  /** The batch this job belongs to (enqueueBatch, migration 000019), if any. */
  batch_id: string | null;
  /** The jobs this one waits for (enqueued with `dependsOn`); null when it has none. */
  depends_on: string[] | null;
  /** What a failed or cancelled dependency does to this job: `cancel` or `run`; null without dependencies. */
  on_dependency_failure: DependencyFailurePolicy | null;
  /** Whether some job depends on this one. */
  has_dependants: Generated<boolean>;
  manual_retries: Generated<number>;
  webhook_url: string | null;
  /** Who is mailed when the job finishes (`{to, on}`); hidden from the API. */
  notify_email: ColumnType<StoredEmailNotification | null, string | null, string | null>;
}

export type JobEventKind = 'log' | 'transition' | 'control';
export type JobEventLevel = 'debug' | 'info' | 'warn' | 'error';
/** The log levels of job_events, least severe first. */
export const JOB_EVENT_LEVELS: readonly JobEventLevel[] = ['debug', 'info', 'warn', 'error'];

export interface JobEventsTable {
  id: ColumnType<string, never, never>;
  job_id: string;
  at: DefaultedTimestamp;
  kind: Generated<JobEventKind>;
  level: Generated<JobEventLevel>;
  message: string;
  data: ColumnType<unknown, string | null, string | null>;
  step: string | null;
  attempt: number | null;
}

/** A durable step of a job (migration 000017): its stored result, or the sleep/wait it parks on. */
export interface JobStepsTable {
  job_id: string;
  name: string;
  position: number;
  kind: Generated<'run' | 'sleep' | 'wait'>;
  result: ColumnType<unknown, string | null, string | null>;
  attempt: number;
  started_at: DefaultedTimestamp;
  completed_at: Date | null;
  wake_at: Date | null;
  wait_event: string | null;
  timed_out: Generated<boolean>;
}

/** A job template (migration 000020): a named preset of an enqueue. */
export interface JobTemplatesTable {
  name: string;
  type: string;
  payload_defaults: ColumnType<unknown, string, string>;
  priority: number | null;
  queue: string | null;
  max_attempts: number | null;
  /** Not readable by the API's request roles. */
  webhook_url: string | null;
  /** Not readable by the API's request roles. */
  notify_email: string[] | null;
  notify_on: string[] | null;
  description: string | null;
  org_id: string | null;
  created_at: DefaultedTimestamp;
  updated_at: DefaultedTimestamp;
}

export interface TaskTypesTable {
  type: string;
  payload_schema: ColumnType<unknown, string | null, string | null>;
  max_attempts: number;
  max_payload_bytes: number;
  description: string | null;
  updated_at: DefaultedTimestamp;
  backoff: ColumnType<unknown, string | null, string | null>;
  timeout_ms: number | null;
  cancel_grace_ms: number | null;
  org_concurrency: number | null;
  /** `concurrency.limit`: most running per key (migration 000016). */
  key_concurrency: number | null;
  /** `concurrency.key`: `org`, `owner` or `payload:<path>`. */
  concurrency_key_spec: string | null;
  /** Fair turns between tenants: 'org', 'off', or null for the default ('org'). */
  fairness: 'org' | 'off' | null;
  api_enqueue: Generated<boolean>;
  webhook_url: string | null;
  /** import, export, validation or processing; null: the task declares none (src/jobs/categories.ts). */
  category: string | null;
  notify_email: ColumnType<StoredEmailNotification | null, string | null, string | null>;
  median_ms: Int8 | null;
  stats_at: Timestamp | null;
}

export interface WorkersTable {
  id: string;
  pool_id: string | null;
  hostname: string;
  pid: number;
  concurrency: number;
  task_types: string[];
  started_at: DefaultedTimestamp;
  heartbeat_at: DefaultedTimestamp;
  stopping_at: Timestamp | null;
  rss_bytes: Int8 | null;
  running_jobs: number;
}

/**
 * Concurrency limits shared by every worker (migration 000013): at most `max_running` jobs of a
 * task type (`scope` type, from `defineTask({ maxConcurrent })`) or a queue (`scope` queue, from
 * `jobdeck.set_queue_concurrency`) run at once.
 */
export interface ConcurrencyLimitsTable {
  scope: 'type' | 'queue';
  key: string;
  max_running: number;
  updated_at: DefaultedTimestamp;
}

/**
 * Rate limits shared by every worker (migration 000016): at most `max_starts` jobs of a task type
 * (`defineTask({ rateLimit })`) or a queue (`jobdeck.set_queue_rate_limit`) start per `period`,
 * per key when `key_spec` is set.
 */
export interface RateLimitsTable {
  scope: 'type' | 'queue';
  name: string;
  max_starts: number;
  /** An interval: node-postgres reads it as an object, write it as text (`'1000 milliseconds'`). */
  period: ColumnType<unknown, string, string>;
  key_spec: string | null;
  updated_at: DefaultedTimestamp;
}

/** The numbered migrations applied (src/db/migrate.ts creates and fills it). */
export interface MigrationsTable {
  id: number;
  name: string;
  checksum: string;
  applied_at: DefaultedTimestamp;
}

/** A batch of jobs (enqueueBatch, migration 000019): counters kept exact as its jobs finish. */
export interface BatchesTable {
  id: Generated<string>;
  owner_id: string | null;
  org_id: string | null;
  total: number;
  succeeded: Generated<number>;
  failed: Generated<number>;
  cancelled: Generated<number>;
  on_complete_type: string | null;
  on_complete_payload: ColumnType<Record<string, unknown>, string, string>;
  /** The job enqueued when the last job of the batch finished. */
  on_complete_job_id: string | null;
  cancel_requested_at: Timestamp | null;
  created_at: DefaultedTimestamp;
  updated_at: DefaultedTimestamp;
  /** When the last job of the batch finished; null while any is unfinished. */
  finished_at: Timestamp | null;
}

/** The database as Kysely sees it. */
export interface Database {
  'jobdeck.jobs': JobsTable;
  'jobdeck.job_events': JobEventsTable;
  'jobdeck.job_steps': JobStepsTable;
  'jobdeck.batches': BatchesTable;
  'jobdeck.job_templates': JobTemplatesTable;
  'jobdeck_private.task_types': TaskTypesTable;
  'jobdeck_private.workers': WorkersTable;
  'jobdeck_private.concurrency_limits': ConcurrencyLimitsTable;
  'jobdeck_private.rate_limits': RateLimitsTable;
  'jobdeck_private.migrations': MigrationsTable;
}

/** A tracked job as read from the database. */
export type Job = Selectable<JobsTable>;
export type NewJob = Insertable<JobsTable>;
export type JobUpdate = Updateable<JobsTable>;
export type JobEvent = Selectable<JobEventsTable>;
export type JobStep = Selectable<JobStepsTable>;
/** A batch as read from the database (see `BatchProgress` for its aggregate progress). */
export type BatchRow = Selectable<BatchesTable>;
export type JobTemplateRow = Selectable<JobTemplatesTable>;
