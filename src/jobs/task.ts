import type { JobHelpers } from 'graphile-worker';
import type { z } from 'zod';
import type { Job, JobEventLevel } from '../db/types.ts';
import type { Backoff, Duration } from './policy.ts';
import type { TaskCategory } from './categories.ts';
import type { EmailNotification } from './email-notification.ts';
import type { ParentResult } from './graph.ts';

/** Progress as a percentage, or as steps done out of a total (the percentage is derived). */
export type ProgressValue = number | { completed: number; total: number };

/** What a running task receives. */
export interface TaskContext<P = unknown> {
  /** The job's payload, parsed by the task's schema when it declares one. */
  payload: P;
  /** The tracked job row as it was when this attempt started. */
  job: Job;
  /** 1 on the first attempt. */
  attempt: number;
  /**
   * Aborts when the job should stop: it was cancelled (reason: JobCancelledError), it ran past its
   * timeout (JobTimeoutError), or the worker is shutting down past its deadline
   * (WorkerShutdownError). Pass it to fetch/streams, or check `signal.aborted` between steps.
   */
  signal: AbortSignal;
  /**
   * Reports progress, optionally naming the current step. Writes are batched: calls in quick
   * succession cost one row update, the latest value wins. Await it if you need it stored.
   */
  progress(value: ProgressValue, step?: string): Promise<void>;
  /** Names the current step without changing the percentage. */
  step(name: string): Promise<void>;
  /**
   * A durable step: runs `run` once and stores its JSON result with the job before returning it;
   * when the job runs again (a retry, a crash rescue, a manual retry keeping its steps) a step
   * that completed returns its stored result without running. Names must be unique within a job.
   * Progress and `current_step` follow the steps (of the task's `totalSteps`, or as counted).
   * The value returned is the result as stored (JSON), on the first run and on replays alike. A
   * step that was interrupted mid-way (crash, error) runs again: make its side effects idempotent.
   *
   * @throws StepResultError (permanent) for a result over JOBDECK_MAX_STEP_RESULT_BYTES or not
   * JSON; DuplicateStepError (permanent) for a name used twice in one run.
   */
  step<T>(name: string, run: () => Promise<T> | T): Promise<T>;
  /**
   * Parks the job for `duration` (`'1h'`, ms) without holding a worker slot: the attempt ends
   * unspent, the job goes back to `queued` to run at the wake time, and resumes after its
   * completed steps. A durable step named `name` (default `sleep-1`, `sleep-2`, … in call order).
   */
  sleep(duration: Duration, options?: { name?: string }): Promise<void>;
  /**
   * Waits for a signal `event` (`jobdeck.signal(jobId or key, event, data)` from TypeScript or
   * SQL) and returns its data, parking the job meanwhile like {@link sleep}. A signal sent before
   * the wait is kept for it. A durable step named `name` (default `wait-<event>-1`, …).
   *
   * @throws WaitTimeoutError (permanent unless caught) when `timeout` (default 7 days) passes first.
   */
  waitFor<T = unknown>(event: string, options?: { timeout?: Duration; name?: string }): Promise<T>;
  /**
   * The jobs this one depended on (`dependsOn`), each with its id, type, status and result, in
   * the order they were given: how a child reads its parents' results. Empty without
   * dependencies. A parent is `succeeded` unless the job was enqueued with
   * `onDependencyFailure: 'run'`.
   */
  parents(): Promise<ParentResult[]>;
  /** Appends a log line to the job's events (shown in `jobdeck watch` and the API). */
  log(level: JobEventLevel, message: string, data?: unknown): Promise<void>;
  /** Graphile Worker's helpers (withPgClient, logger, …) for anything else. */
  helpers: JobHelpers;
  /**
   * Ends the attempt as "rate limited, retry after `retryAfter`" (an external API answered 429):
   * throws a RateLimitedError, so the job waits and runs again later without spending an attempt.
   */
  rateLimited(retryAfter: Duration): never;
}

/**
 * What a per-key limit counts by: the job's `orgId`, its `ownerId`, or a field of its payload
 * (`{ payload: 'accountId' }`, a dotted path for nested fields; the value must be a string or a
 * number). Computed when the job is enqueued; a job it fails on is refused, naming the field.
 */
export type LimitKey = 'org' | 'owner' | { payload: string };

/** `defineTask({ concurrency })`: at most `limit` jobs of this type with one key run at once. */
export interface KeyConcurrency {
  limit: number;
  key: LimitKey;
}

/**
 * `defineTask({ rateLimit })`: at most `limit` jobs of this type start per `period`, across every
 * worker; with `key`, per key (each key has a budget of its own). Starts are spaced at least
 * `period / limit` apart (GCRA without burst, docs/recipes.md).
 */
export interface RateLimit {
  limit: number;
  /** Milliseconds or a duration string (`"1s"`, `"1m"`): from 1 ms to 31 days. */
  period: Duration;
  key?: LimitKey;
}

/** Per-attempt resource limits of a task type (see {@link TaskDefinition.limits}). */
export interface TaskLimits {
  /** Most resident memory (RSS) the attempt's process may use, in MB (at least 64). */
  memoryMb?: number;
  /** Most CPU time (user + system) the attempt may use, in seconds (may be fractional). */
  cpuSeconds?: number;
}

/** A task module's default export. */
export interface TaskDefinition<S extends z.ZodType = z.ZodType, R = unknown> {
  /** Payload schema: checked at enqueue (in SQL, for every path) and parsed before `run`. */
  payload?: S;
  /** Attempts before the job is marked failed (default: JOBDECK_DEFAULT_MAX_ATTEMPTS). */
  maxAttempts?: number;
  /**
   * Delay before each retry: a list (`['0s', '1m', '5m', '15m', '60m']`, the last repeats) or
   * exponential (`{ base: '2s', factor: 2, max: '1h', jitter: 0.2 }`, the default).
   */
  backoff?: Backoff;
  /**
   * Whether a failed attempt may be retried (attempts permitting). Default: every error except
   * PermanentJobError. `isTransientError` is a ready-made classifier (timeouts, refused
   * connections, 429/5xx retry; 4xx, not found, invalid fail at once).
   */
  isRetryable?: (error: unknown) => boolean;
  /** Longest an attempt may run; past it the signal aborts and the attempt fails as a timeout. */
  timeout?: Duration;
  /**
   * How long a task gets to stop after its signal aborts (cancel, timeout, shutdown) before it is
   * abandoned and its result discarded (default: JOBDECK_CANCEL_GRACE_MS).
   */
  cancelGrace?: Duration;
  /**
   * At most this many jobs of this type run at once per organisation (`orgId`), across all
   * workers. Jobs over the cap wait; others keep flowing. JOBDECK_ORG_CONCURRENCY caps all types.
   */
  orgConcurrency?: number;
  /**
   * At most this many jobs of this type run at once, whatever their organisation, across all
   * workers (a row in the database, so it holds across processes and restarts). Jobs over the
   * limit are held (a `held: task type "x" is at its concurrency limit (n)` event) and start as
   * soon as a slot frees. Per queue: `jobdeck.setQueueConcurrency()` or JOBDECK_QUEUE_CONCURRENCY.
   */
  maxConcurrent?: number;
  /**
   * At most `limit` jobs of this type run at once per key (`'org'`, `'owner'` or
   * `{ payload: 'accountId' }`), across all workers: `orgConcurrency` for any key. Jobs over it
   * are held (`held: task type "x" is at its concurrency limit for key "k" (n)`) until a slot frees.
   */
  concurrency?: KeyConcurrency;
  /**
   * At most `limit` starts per `period` (optionally per key), across all workers. A job over the
   * rate waits (status and attempts unchanged; `held_reason` says until when) and starts when its
   * turn comes. Per queue: `jobdeck.setQueueRateLimit()`.
   */
  rateLimit?: RateLimit;
  /**
   * Fair turns between tenants (default `'org'`): jobs of this type take turns by organisation
   * (`orgId`; jobs without one form one tenant), so an organisation with 10 jobs is not stuck
   * behind another's 100,000. `false`: first-in first-out. Priority still comes first. A queue's
   * setting (`jobdeck.setQueueFairness()`) wins over this one. See docs/recipes.md.
   */
  fairness?: 'org' | false;
  /**
   * Resource limits for each attempt: `memoryMb` (resident memory of the attempt's process, in MB)
   * and `cpuSeconds` (CPU time, user + system). A type with limits runs every attempt in its own
   * child process, sampled every 100 ms and killed when it goes over; the job then fails at once
   * with a ResourceLimitError (no retry). docs/resource-limits.md says how exact that is.
   */
  limits?: TaskLimits;
  /** Largest accepted payload, in bytes of JSON (default: JOBDECK_MAX_PAYLOAD_BYTES). */
  maxPayloadBytes?: number;
  /**
   * Whether signed-in users may enqueue this type through the API (GraphQL, REST); default true.
   * Set false for maintenance tasks: trusted callers (TypeScript, SQL, CLI, cron) still can.
   */
  enqueueFromApi?: boolean;
  /**
   * An http(s) URL called (POST, HMAC-signed) whenever a job of this type succeeds or fails; an
   * enqueue's own `webhookUrl` takes precedence. Deliveries are tracked `deliver_webhook` jobs.
   */
  webhook?: string;
  /**
   * E-mail these addresses (at most 10) when a job of this type succeeds or fails (`on`, default
   * both); an enqueue's own `notifyEmail` takes precedence. Each message is a tracked
   * `deliver_email` job sent through JOBDECK_SMTP_URL, retried with backoff.
   */
  notify?: EmailNotification;
  /**
   * How many durable steps (`ctx.step(name, fn)`, sleeps and waits) a run has, for progress
   * (`completed_steps` / `total_steps`). Without it the total is counted from the steps seen.
   */
  totalSteps?: number;
  /** One line for `jobdeck tasks` and the docs. */
  description?: string;
  /**
   * What kind of work the task does: `import`, `export`, `validation` or `processing` (the
   * default). The DataBiz widget route (`GET /api/v2/jobs/active`) answers it as a job's `type`.
   */
  category?: TaskCategory;
  /** Does the work; the return value is stored as the job's result (must be JSON). */
  run(ctx: TaskContext<z.output<S>>): Promise<R> | R;
}

/**
 * Declares a task. The file name under tasks/ is the job type:
 *
 * ```ts
 * // tasks/send_email.ts
 * export default defineTask({
 *   payload: z.object({ to: z.email() }),
 *   async run({ payload, progress }) { … },
 * });
 * ```
 */
export function defineTask<S extends z.ZodType = z.ZodType<unknown>, R = unknown>(
  definition: TaskDefinition<S, R>,
): TaskDefinition<S, R> {
  return definition;
}

/** Any task definition, whatever its payload and result types. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a registry holds tasks of every payload type
export type AnyTaskDefinition = TaskDefinition<any, unknown>;
