import type { JobAttemptError } from '../db/types.ts';
import {
  JobCancelledError,
  JobTimeoutError,
  MAX_RATE_DEFERRALS,
  PermanentJobError,
  RateLimitedError,
  WorkerShutdownError,
  AttemptLostError,
} from '../errors.ts';
import type { TaskSettings } from '../jobs/registry.ts';
import type { Logger } from '../logger.ts';
import { AbandonedError } from './grace.ts';
import type { AttemptState } from './task-context.ts';
import type { FinishOutcome, FinishRecord, FinishResult } from './tracker.ts';

/** How an attempt ended, as the wrapper hands it to the tracker's finish. */
export type Outcome = Omit<
  FinishRecord,
  'id' | 'gwJobId' | 'startedAt' | 'attempt' | 'peakRssBytes' | 'cpuMs' | 'latest'
>;

/** What deciding an outcome needs of the task type (one per type, made when it is wrapped). */
export interface OutcomePolicy {
  type: string;
  settings: TaskSettings;
  logger: Logger;
}

function attemptError(
  error: unknown,
  attempt: number,
  permanent: boolean,
  extra: Partial<JobAttemptError> = {},
): JobAttemptError {
  const err = error instanceof Error ? error : new Error(String(error));
  return {
    at: new Date().toISOString(),
    attempt,
    name: err.name,
    message: err.message.slice(0, 10_000) || err.name,
    stack: err.stack?.slice(0, 20_000) ?? null,
    permanent,
    ...extra,
  };
}

/** Permanent failures: PermanentJobError, or anything a task marks with `permanent = true`. */
function isPermanent(error: unknown): boolean {
  return (
    error instanceof PermanentJobError ||
    (typeof error === 'object' &&
      error !== null &&
      (error as { permanent?: unknown }).permanent === true)
  );
}

/** Whether an error may be retried: permanent errors never, others as the type's isRetryable says. */
function classify(
  error: unknown,
  { type, settings, logger }: OutcomePolicy,
): { retryable: boolean; permanent: boolean } {
  if (isPermanent(error)) return { retryable: false, permanent: true };
  if (!settings.isRetryable) return { retryable: true, permanent: false };
  try {
    const retryable = settings.isRetryable(error) === true;
    return { retryable, permanent: !retryable };
  } catch (classifyError) {
    logger.warn(
      `${type}.isRetryable threw (${(classifyError as Error).message}); treating the error as retryable`,
    );
    return { retryable: true, permanent: false };
  }
}

/**
 * The outcome of a task that returned `value`: it has done its work, even after a timeout or
 * shutdown abort; only a cancel overrides that (the caller asked for the job not to count).
 *
 * @throws PermanentJobError when the value is not JSON (decided then by {@link thrownOutcome}).
 */
export function returnedOutcome(value: unknown, signal: AbortSignal): Outcome {
  if (signal.reason instanceof JobCancelledError) return { outcome: 'cancelled' };
  let resultJson: string | null;
  try {
    resultJson = value === undefined ? null : (JSON.stringify(value) ?? null);
  } catch (error) {
    throw new PermanentJobError(`the task's result is not JSON: ${(error as Error).message}`);
  }
  return { outcome: 'succeeded', resultJson };
}

/**
 * The wait a RateLimitedError asks for, in ms, or null for any other error. Duck-typed as well: an
 * attempt with `limits` runs in its own process, and its errors come back rebuilt by name.
 */
function retryAfterOf(error: unknown): number | null {
  if (error instanceof RateLimitedError) return error.retryAfterMs;
  if (typeof error !== 'object' || error === null) return null;
  const { name, retryAfterMs } = error as { name?: unknown; retryAfterMs?: unknown };
  return name === 'RateLimitedError' &&
    typeof retryAfterMs === 'number' &&
    Number.isFinite(retryAfterMs) &&
    retryAfterMs >= 0
    ? Math.min(Math.round(retryAfterMs), 86_400_000)
    : null;
}

/** The outcome of a task that threw (or was abandoned after its grace). */
export function thrownOutcome(error: unknown, state: AttemptState, policy: OutcomePolicy): Outcome {
  const { signal } = state.controller;
  if (error instanceof AbandonedError)
    policy.logger.warn(`${policy.type} job ${state.row.id}: ${error.message}`);
  if (error instanceof JobCancelledError && !signal.aborted) return { outcome: 'cancelled' };
  if (signal.aborted) return abortedOutcome(error, state, policy);
  const retryAfterMs = retryAfterOf(error);
  // "Rate limited, retry after": no attempt spent, up to MAX_RATE_DEFERRALS times per job; past
  // that it is an ordinary retryable error, so a task that says it forever still ends.
  if (retryAfterMs !== null && (state.row.rate_deferrals ?? 0) < MAX_RATE_DEFERRALS)
    return { outcome: 'rate_limited', delayMs: retryAfterMs };
  if (retryAfterMs !== null)
    return {
      outcome: 'error',
      retryable: true,
      error: attemptError(
        Object.assign(
          new Error(
            `${(error as Error).message} (rate limited ${MAX_RATE_DEFERRALS} times: now counted as a failed attempt)`,
          ),
          { name: 'RateLimitedError' },
        ),
        state.attempt,
        false,
      ),
    };
  const { retryable, permanent } = classify(error, policy);
  return { outcome: 'error', retryable, error: attemptError(error, state.attempt, permanent) };
}

/** The outcome when the signal aborted: the abort's reason decides, not what the task did. */
function abortedOutcome(taskError: unknown, state: AttemptState, policy: OutcomePolicy): Outcome {
  const reason: unknown = state.controller.signal.reason;
  if (reason instanceof JobCancelledError) return { outcome: 'cancelled' };
  // A shutdown or a lost attempt: back to the queue, the attempt unspent (if the row is still
  // this attempt's: finish_jobs matches only this worker's attempt).
  if (reason instanceof WorkerShutdownError || reason instanceof AttemptLostError)
    return { outcome: 'interrupted' };
  const timeoutError =
    reason instanceof JobTimeoutError
      ? reason
      : new JobTimeoutError(policy.settings.timeoutMs ?? 0);
  const { retryable, permanent } = classify(timeoutError, policy);
  const detail = taskError instanceof AbandonedError ? ` (${taskError.message})` : '';
  return {
    outcome: 'error',
    retryable,
    error: attemptError(
      Object.assign(new JobTimeoutError(timeoutError.timeoutMs), {
        message: timeoutError.message + detail,
      }),
      state.attempt,
      permanent,
      { timedOut: true },
    ),
  };
}

/** One log line for a committed finish, saying what became of the job. */
export function reportFinish(
  logger: Logger,
  type: string,
  id: string,
  attempt: number,
  outcome: FinishOutcome,
  status: FinishResult,
  error: JobAttemptError | undefined,
): void {
  if (status === null && outcome === 'cancelled') {
    logger.info(`${type} job ${id} cancelled`);
  } else if (status === null) {
    logger.warn(
      `${type} job ${id}: attempt ${attempt} ended (${outcome}) but the job had moved on (rescued or finished elsewhere); outcome discarded`,
    );
  } else if (status === 'failed') {
    logger.warn(`${type} job ${id} failed on attempt ${attempt}: ${error?.message ?? 'error'}`);
  } else if (status === 'retrying') {
    logger.info(`${type} job ${id} attempt ${attempt} failed, will retry: ${error?.message}`);
  } else if (status === 'queued' && outcome === 'rate_limited') {
    logger.info(`${type} job ${id} rate limited by the task; back in the queue for later`);
  } else if (status === 'queued' && outcome === 'parked') {
    logger.debug(`${type} job ${id} parked (sleep or waitFor); back in the queue until it wakes`);
  } else if (status === 'queued') {
    logger.info(`${type} job ${id} interrupted by shutdown; back in the queue`);
  } else if (status === 'cancelled') {
    logger.info(`${type} job ${id} cancelled`);
  }
}
