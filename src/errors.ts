/**
 * The few error classes jobdeck throws. Each carries the data a caller needs to react, and keeps
 * the underlying error as `cause`.
 */

/**
 * The base of the "not found" errors: `${noun} ${id} not found`, the id as given in `field`.
 * Not exported: callers test for the classes below.
 */
function notFoundError<F extends string>(
  noun: string,
  field: F,
): new (id: string, options?: ErrorOptions) => Error & Readonly<Record<F, string>> {
  return class extends Error {
    constructor(id: string, options?: ErrorOptions) {
      super(`${noun} ${id} not found`, options);
      Object.defineProperty(this, field, { value: id, enumerable: true });
    }
  } as never;
}

/** A job id that does not exist (or that the caller may not see). */
export class JobNotFoundError extends notFoundError('job', 'jobId') {
  override readonly name = 'JobNotFoundError';
}

/** No batch with this id, or not one the caller may see. */
export class BatchNotFoundError extends notFoundError('batch', 'batchId') {
  override readonly name = 'BatchNotFoundError';
}

/** Enqueue named a job type that no task module defines. */
export class UnknownJobTypeError extends Error {
  override readonly name = 'UnknownJobTypeError';
  readonly type: string;
  constructor(type: string, message?: string, options?: ErrorOptions) {
    super(message ?? `unknown job type "${type}"`, options);
    this.type = type;
  }
}

/** A payload that fails its task's schema. `problems` lists each failing field. */
export class InvalidPayloadError extends Error {
  override readonly name = 'InvalidPayloadError';
  readonly type: string;
  readonly problems: readonly string[];
  constructor(type: string, problems: readonly string[], options?: ErrorOptions) {
    super(`invalid payload for job type "${type}": ${problems.join('; ')}`, options);
    this.type = type;
    this.problems = problems;
  }
}

/**
 * The base of errors that carry fields besides their message: `new X(details, message, options)`
 * sets `details`' fields on the error. Not exported: callers test for the classes below.
 */
function errorWith<D extends object>(): new (
  details: D,
  message: string,
  options?: ErrorOptions,
) => Error & Readonly<D> {
  return class extends Error {
    constructor(details: D, message: string, options?: ErrorOptions) {
      super(message, options);
      Object.assign(this, details);
    }
  } as never;
}

/** A payload over the configured size limit. */
export class PayloadTooLargeError extends errorWith<{ type: string }>() {
  override readonly name = 'PayloadTooLargeError';
}

/** An argument outside its allowed range: an enqueue option, a list filter, a page size. */
export class InvalidArgumentError extends Error {
  override readonly name = 'InvalidArgumentError';
}

/** A job is in a state that does not allow the requested operation. */
export class InvalidJobStateError extends errorWith<{ jobId: string; status: string }>() {
  override readonly name = 'InvalidJobStateError';
}

/**
 * The caller may not do this: their token lacks the permission, or row-level security refuses the
 * row (SQLSTATE 42501 from jobdeck's SQL functions and policies). HTTP answers 403.
 */
export class ForbiddenError extends Error {
  override readonly name = 'ForbiddenError';
}

/**
 * Thrown by a task to fail its job at once, without further attempts (bad input, a resource that
 * does not exist). Any other error is retried while attempts remain.
 */
export class PermanentJobError extends Error {
  override readonly name = 'PermanentJobError';
}

/**
 * Thrown by a task (or by `ctx.rateLimited(retryAfter)`) when something it calls said "too many
 * requests, retry after X" (an HTTP 429): the job goes back in the queue until `retryAfterMs` from
 * now without spending an attempt, with a `rate limited by the task` event and its reason in the
 * row. Bounded: past {@link MAX_RATE_DEFERRALS} such deferrals of one job, it counts as an ordinary
 * retryable error (spending attempts, so the job ends after its `maxAttempts`).
 */
export class RateLimitedError extends Error {
  override readonly name = 'RateLimitedError';
  /** How long to wait before the next attempt, in ms (0 to 24 hours). */
  readonly retryAfterMs: number;
  /**
   * @param options.retryAfter milliseconds or a duration string (`"30s"`, `"5m"`): at most 24 hours.
   * @throws RangeError when retryAfter is not a duration from 0 to 24 hours.
   */
  constructor(
    options: { retryAfter: number | string; message?: string },
    errorOptions?: ErrorOptions,
  ) {
    const ms = retryAfterMsOf(options?.retryAfter);
    super(options.message ?? `rate limited, retry after ${ms} ms`, errorOptions);
    this.retryAfterMs = ms;
  }
}

/** How many times one job may be put back by {@link RateLimitedError} without spending attempts. */
export const MAX_RATE_DEFERRALS = 100;

const RETRY_AFTER_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function retryAfterMsOf(value: unknown): number {
  let ms = Number.NaN;
  if (typeof value === 'number') ms = value;
  else if (typeof value === 'string') {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(value);
    if (match) ms = Number(match[1]) * RETRY_AFTER_UNITS[match[2]!]!;
  }
  if (!Number.isFinite(ms) || ms < 0 || ms > 86_400_000)
    throw new RangeError(
      `retryAfter must be a duration from 0 to 24 hours (ms, or a string like "30s"), got ${JSON.stringify(value) ?? String(value)}`,
    );
  return Math.round(ms);
}

/**
 * The reason a running job's signal aborts when the job is cancelled. Tasks may throw it (or
 * anything) on abort; the attempt is recorded as cancelled either way.
 */
export class JobCancelledError extends Error {
  override readonly name = 'JobCancelledError';
  readonly reason: string | null;
  constructor(reason: string | null) {
    super(reason ? `job cancelled: ${reason}` : 'job cancelled');
    this.reason = reason;
  }
}

/** The reason the signal aborts when an attempt runs past its type's `timeout`. Retryable. */
export class JobTimeoutError extends Error {
  override readonly name = 'JobTimeoutError';
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`the attempt ran past its ${timeoutMs} ms timeout`);
    this.timeoutMs = timeoutMs;
  }
}

/** Which of a task type's `limits` an attempt went over. */
export type ResourceLimitKind = 'memory' | 'cpu';

/**
 * An attempt of a task type with `limits` went over one: its process was killed and the job fails
 * without retry (`permanent`), since the same input would go over the same limit again.
 */
export class ResourceLimitError extends Error {
  override readonly name = 'ResourceLimitError';
  readonly permanent = true;
  readonly limit: ResourceLimitKind;
  /** What the attempt had used when it was stopped: bytes of RSS, or ms of CPU time. */
  readonly used: number;
  /** The limit: bytes of RSS, or ms of CPU time. */
  readonly allowed: number;
  /**
   * @param heap V8 stopped the process (its heap ceiling is the memory limit) before a sample saw
   *   its RSS over the limit; `used` is then the last sample's RSS.
   */
  constructor(limit: ResourceLimitKind, used: number, allowed: number, type: string, heap = false) {
    super(
      limit === 'cpu'
        ? `CPU time limit exceeded: ${(used / 1000).toFixed(1)} s used, limit ${allowed / 1000} s (task type "${type}")`
        : heap
          ? `memory limit exceeded: the JavaScript heap reached its ceiling, the limit of ${mb(allowed)} MB (task type "${type}")`
          : `memory limit exceeded: ${Math.ceil(used / 1024 / 1024)} MB used, limit ${mb(allowed)} MB (task type "${type}")`,
    );
    this.limit = limit;
    this.used = used;
    this.allowed = allowed;
  }
}

const mb = (bytes: number): number => Math.round(bytes / 1024 / 1024);

/**
 * The reason the signal aborts when this worker lost the attempt: presumed dead and the job
 * rescued elsewhere, or its running mark refused. The attempt is void; if the row is still this
 * attempt's, the job goes back to the queue with the attempt unspent (never cancelled).
 */
export class AttemptLostError extends Error {
  override readonly name = 'AttemptLostError';
  constructor() {
    super(
      'this worker lost the attempt (presumed dead, or the job moved on); this attempt is void',
    );
  }
}

/** The reason the signal aborts when the worker shuts down past its deadline; the job is requeued. */
export class WorkerShutdownError extends Error {
  override readonly name = 'WorkerShutdownError';
  constructor() {
    super('the worker is shutting down; the job goes back to the queue');
  }
}

/**
 * A durable step's result is over JOBDECK_MAX_STEP_RESULT_BYTES (or is not JSON). Permanent: the
 * same step would return the same result again. Store large data elsewhere and return its key.
 */
export class StepResultError extends Error {
  override readonly name = 'StepResultError';
  readonly permanent = true;
  readonly step: string;
  constructor(step: string, message: string) {
    super(`step "${step}": ${message}`);
    this.step = step;
  }
}

/**
 * A task ran two steps (or sleeps, or waits) of one name in one run: a durable step is found by its
 * name, so names must be unique within a job. Permanent: the task's code must change.
 */
export class DuplicateStepError extends Error {
  override readonly name = 'DuplicateStepError';
  readonly permanent = true;
  readonly step: string;
  constructor(step: string) {
    super(
      `step "${step}" ran twice in one run of the job: durable steps are found by name, so each needs a name of its own (add an index: "fetch-1", "fetch-2")`,
    );
    this.step = step;
  }
}

/**
 * `ctx.waitFor(event, { timeout })` timed out before a signal came. Permanent when not caught:
 * the timeout is recorded with the step, so running the job again would time out again (a manual
 * retry with `keepSteps: false` waits afresh).
 */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  readonly permanent = true;
  readonly event: string;
  readonly step: string;
  constructor(event: string, step: string) {
    super(`no "${event}" signal came before the wait's timeout (step "${step}")`);
    this.event = event;
    this.step = step;
  }
}

/**
 * Thrown by `ctx.sleep` and `ctx.waitFor` to park the job: the attempt ends without being spent,
 * and the job runs again at `wakeAt` (or when its signal comes). Do not catch it; if a task does,
 * the job is parked all the same.
 */
export class JobParkedError extends Error {
  override readonly name = 'JobParkedError';
  readonly wakeAt: Date;
  constructor(wakeAt: Date, why: string) {
    super(`job parked: ${why}`);
    this.wakeAt = wakeAt;
  }
}

/** Configuration from the environment that cannot be used. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly string[];
  constructor(problems: readonly string[], options?: ErrorOptions) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`, options);
    this.problems = problems;
  }
}

/**
 * A bearer token that cannot be accepted: malformed, badly signed, expired, missing a claim.
 * HTTP answers 401 with the message; it never says more than what is wrong with the token.
 */
export class UnauthorizedError extends Error {
  override readonly name = 'UnauthorizedError';
  readonly statusCode = 401;
  /** GraphQL error extensions, for clients that switch on `code`. */
  readonly extensions = { code: 'UNAUTHENTICATED' };
}

/** A webhook target the guard refuses; the message says which address and why. */
export class WebhookTargetError extends errorWith<{
  /** The URL without credentials, path or query (`redactWebhookUrl`). */
  target: string;
}>() {
  override readonly name = 'WebhookTargetError';
}
