import type { JobHelpers, Task } from 'graphile-worker';
import type { ZodType } from 'zod';
import type { JobAttemptError, JobEventLevel } from '../db/types.ts';
import {
  JobCancelledError,
  JobTimeoutError,
  PermanentJobError,
  WorkerShutdownError,
} from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { TaskSettings } from '../jobs/registry.ts';
import type { AnyTaskDefinition, ProgressValue, TaskContext } from '../jobs/task.ts';
import { cpuMs, processRss, type ActiveJobs } from './active.ts';
import type { FinishOutcome, FinishRecord, Tracker } from './tracker.ts';

const LEVELS: readonly JobEventLevel[] = ['debug', 'info', 'warn', 'error'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The Worker payload of a job enqueued through jobdeck: a pointer to its tracked row. */
function trackedId(payload: unknown): string | null {
  if (payload && typeof payload === 'object' && !Array.isArray(payload)) {
    const keys = Object.keys(payload);
    const id = (payload as { jobdeckId?: unknown }).jobdeckId;
    if (keys.length === 1 && typeof id === 'string' && UUID.test(id)) return id;
  }
  return null;
}

/** Checks a progress value and turns it into the columns to write. */
export function progressPatch(value: ProgressValue): {
  progress: number;
  completed?: number;
  total?: number;
} {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0 || value > 100) {
      throw new RangeError(`progress must be a number from 0 to 100, got ${String(value)}`);
    }
    return { progress: Math.round(value) };
  }
  if (!value || typeof value !== 'object') {
    throw new TypeError(`progress takes a percentage or {completed, total}, got ${String(value)}`);
  }
  const { completed, total } = value;
  if (
    !Number.isInteger(total) ||
    total < 1 ||
    !Number.isInteger(completed) ||
    completed < 0 ||
    completed > total
  ) {
    throw new RangeError(
      `progress {completed, total} needs whole numbers with 0 <= completed <= total and total >= 1, got {completed: ${String(completed)}, total: ${String(total)}}`,
    );
  }
  return { progress: Math.floor((completed / total) * 100), completed, total };
}

function checkStep(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
    throw new TypeError(
      `step must be a non-empty string of at most 200 characters, got ${JSON.stringify(name)}`,
    );
  }
  return name;
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

/** Thrown in place of a task's outcome when it did not stop within its grace after an abort. */
class AbandonedError extends Error {
  override readonly name = 'AbandonedError';
}

/**
 * Settles with `work`, unless `signal` aborts and `work` has not settled `graceMs` later: then
 * rejects with AbandonedError. The abandoned work runs on; whatever it ends with is ignored.
 */
function withGrace<T>(work: Promise<T>, signal: AbortSignal, graceMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      timer = setTimeout(
        () =>
          reject(
            new AbandonedError(
              `the task did not stop within ${graceMs} ms of its signal aborting; abandoned, its result will be discarded`,
            ),
          ),
        graceMs,
      );
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}

export interface WrapDeps {
  tracker: Tracker;
  /** Finishes allowed in flight before a task slot waits for its own (see Tracker.finishBacklog). */
  finishBacklogLimit: number;
  logger: Logger;
  active: ActiveJobs;
  settings: TaskSettings;
}

type Outcome = Omit<
  FinishRecord,
  'id' | 'gwJobId' | 'startedAt' | 'attempt' | 'peakRssBytes' | 'cpuMs' | 'latest'
>;

/**
 * Wraps a task definition as a Graphile Worker task that tracks the job from start to finish.
 *
 * Every attempt ends with its outcome committed by `finish_jobs` and then reported to Worker as
 * done; retries are new Worker jobs that `finish_jobs` adds with the type's backoff. The task's
 * signal aborts on cancel (recorded `cancelled`), on timeout (a retryable failure by default), and
 * when the worker shuts down past its deadline (the job goes back to the queue, attempt unspent).
 * A task that ignores its signal is abandoned after its grace period. The outcome is written by
 * the tracker's finish lane after the wrapper has returned (docs/performance.md explains why that
 * loses nothing).
 */
export function wrapTask(type: string, def: AnyTaskDefinition, deps: WrapDeps): Task {
  const { tracker, logger, active, settings } = deps;
  return async (payload: unknown, helpers: JobHelpers) => {
    const gwJob = helpers.job;
    const id = trackedId(payload);
    const fromCron = !id && !!payload && typeof payload === 'object' && '_cron' in payload;
    const begun = await tracker.start({
      id,
      gwJobId: gwJob.id,
      type,
      queue: id ? null : ((await helpers.getQueueName()) ?? null),
      payload: id ? undefined : payload,
      priority: gwJob.priority,
      // A plain add_job keeps the attempts its caller asked for; cron runs get the type's.
      maxAttempts: fromCron ? settings.maxAttempts : gwJob.max_attempts,
      runAt: new Date(gwJob.run_at),
      source: id ? 'jobdeck' : fromCron ? 'cron' : 'graphile_worker',
    });
    if (!begun) {
      // Cancelled, finished, superseded by a newer attempt, or held back by a concurrency cap.
      logger.debug(`not running ${type} job ${id ?? `gw:${gwJob.id}`} now`);
      return;
    }

    const { row, attempt } = begun;
    const startedAt = row.started_at ?? new Date();
    const controller = new AbortController();
    const job = active.add({ id: row.id, type, attempt, controller, marked: begun.marked });
    if (!begun.marked) {
      tracker.mark({
        id: row.id,
        gwJobId: gwJob.id,
        attempt,
        startedAt,
        onMarked: () => {
          job.marked = true;
        },
        onRefused: (status) => {
          // Cancelled while starting (the cancel's notice may not have reached us yet).
          if (status === 'cancelled') active.cancel(row.id, null);
          else active.lose(row.id);
        },
      });
    }
    const onShutdown = () => {
      if (!controller.signal.aborted) controller.abort(new WorkerShutdownError());
    };
    if (helpers.abortSignal.aborted) onShutdown();
    else helpers.abortSignal.addEventListener('abort', onShutdown, { once: true });
    const timeout =
      settings.timeoutMs === null
        ? undefined
        : setTimeout(() => {
            if (!controller.signal.aborted)
              controller.abort(new JobTimeoutError(settings.timeoutMs!));
          }, settings.timeoutMs);
    let currentStep: string | null = row.current_step;
    // Once the attempt's outcome is settled (or it was abandoned), late calls write nothing.
    let settled = false;

    const run = async (): Promise<unknown> => {
      let parsed: unknown = row.payload;
      if (def.payload) {
        const result = (def.payload as ZodType).safeParse(row.payload);
        if (!result.success) {
          const problems = result.error.issues.map(
            (issue) =>
              `payload${issue.path.map((p) => `.${String(p)}`).join('')}: ${issue.message}`,
          );
          throw new PermanentJobError(
            `invalid payload for job type "${type}": ${problems.join('; ')}`,
          );
        }
        parsed = result.data;
      }
      const ctx: TaskContext<unknown> = {
        payload: parsed,
        job: row,
        attempt,
        signal: controller.signal,
        helpers,
        progress(value, step) {
          const patch = progressPatch(value);
          if (step !== undefined) currentStep = checkStep(step);
          if (settled) return Promise.resolve();
          return tracker.progress({
            id: row.id,
            attempt,
            ...patch,
            ...(step !== undefined ? { step: currentStep! } : {}),
          });
        },
        step(name) {
          currentStep = checkStep(name);
          if (settled) return Promise.resolve();
          return tracker.progress({ id: row.id, attempt, step: currentStep });
        },
        log(level, message, data) {
          if (!LEVELS.includes(level))
            throw new TypeError(
              `log level must be one of ${LEVELS.join(', ')}, got ${String(level)}`,
            );
          if (typeof message !== 'string') throw new TypeError('log message must be a string');
          if (settled) return Promise.resolve();
          return tracker.log({
            jobId: row.id,
            level,
            message: message.slice(0, 10_000),
            data,
            step: currentStep,
            attempt,
            at: new Date(),
          });
        },
      };
      return def.run(ctx);
    };

    const classify = (error: unknown): { retryable: boolean; permanent: boolean } => {
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
    };

    /** The outcome when the signal aborted: the abort's reason decides, not what the task did. */
    const abortedOutcome = (taskError: unknown): Outcome => {
      const reason: unknown = controller.signal.reason;
      if (reason instanceof JobCancelledError) return { outcome: 'cancelled' };
      if (reason instanceof WorkerShutdownError) return { outcome: 'interrupted' };
      const timeoutError =
        reason instanceof JobTimeoutError ? reason : new JobTimeoutError(settings.timeoutMs ?? 0);
      const { retryable, permanent } = classify(timeoutError);
      const detail = taskError instanceof AbandonedError ? ` (${taskError.message})` : '';
      return {
        outcome: 'error',
        retryable,
        error: attemptError(
          Object.assign(new JobTimeoutError(timeoutError.timeoutMs), {
            message: timeoutError.message + detail,
          }),
          attempt,
          permanent,
          { timedOut: true },
        ),
      };
    };

    let outcome: Outcome;
    try {
      if (row.cancel_requested_at) throw new JobCancelledError(row.cancel_reason);
      const work = run();
      const value = await withGrace(work, controller.signal, settings.cancelGraceMs);
      // A task that returns has done its work, even after a timeout or shutdown abort; only a
      // cancel overrides that (the caller asked for the job not to count).
      if (controller.signal.reason instanceof JobCancelledError) {
        outcome = { outcome: 'cancelled' };
      } else {
        let resultJson: string | null;
        try {
          resultJson = value === undefined ? null : (JSON.stringify(value) ?? null);
        } catch (error) {
          throw new PermanentJobError(`the task's result is not JSON: ${(error as Error).message}`);
        }
        outcome = { outcome: 'succeeded', resultJson };
      }
    } catch (error) {
      if (error instanceof AbandonedError) logger.warn(`${type} job ${row.id}: ${error.message}`);
      if (error instanceof JobCancelledError && !controller.signal.aborted) {
        outcome = { outcome: 'cancelled' };
      } else if (controller.signal.aborted) {
        outcome = abortedOutcome(error);
      } else {
        const { retryable, permanent } = classify(error);
        outcome = { outcome: 'error', retryable, error: attemptError(error, attempt, permanent) };
      }
    } finally {
      settled = true;
      clearTimeout(timeout);
      helpers.abortSignal.removeEventListener('abort', onShutdown);
      active.delete(row.id);
    }

    // Handed back to Graphile Worker without waiting for the finish to commit: were this process
    // to die first, the job is rescued (marked) or requeued as an orphan (unmarked), never lost.
    // Past the backlog limit the slot waits, so outcomes never pile up unwritten.
    const finishing = tracker
      .finish({
        id: row.id,
        gwJobId: gwJob.id,
        startedAt,
        attempt,
        ...outcome,
        peakRssBytes: Math.max(job.peakRssBytes, processRss()),
        cpuMs: cpuMs(job),
      })
      .then(
        (status) => report(logger, type, row.id, attempt, outcome.outcome, status, outcome.error),
        (error: Error) =>
          logger.error(
            `${type} job ${row.id}: could not record the outcome of attempt ${attempt}: ${error.message}`,
          ),
      );
    if (tracker.finishBacklog > deps.finishBacklogLimit) await finishing;
  };
}

function report(
  logger: Logger,
  type: string,
  id: string,
  attempt: number,
  outcome: FinishOutcome,
  status: string | null,
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
  } else if (status === 'queued') {
    logger.info(`${type} job ${id} interrupted by shutdown; back in the queue`);
  } else if (status === 'cancelled') {
    logger.info(`${type} job ${id} cancelled`);
  }
}
