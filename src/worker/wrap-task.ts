import type { JobHelpers, Task } from 'graphile-worker';
import type { ZodType } from 'zod';
import type { Job, JobAttemptError, JobEventLevel } from '../db/types.ts';
import { PermanentJobError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { AnyTaskDefinition, ProgressValue, TaskContext } from '../jobs/task.ts';
import type { Tracker } from './tracker.ts';

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

function attemptError(error: unknown, attempt: number, permanent: boolean): JobAttemptError {
  const err = error instanceof Error ? error : new Error(String(error));
  return {
    at: new Date().toISOString(),
    attempt,
    name: err.name,
    message: err.message.slice(0, 10_000) || err.name,
    stack: err.stack?.slice(0, 20_000) ?? null,
    permanent,
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

export interface WrapDeps {
  tracker: Tracker;
  logger: Logger;
}

/**
 * Wraps a task definition as a Graphile Worker task that tracks the job from start to finish.
 * The outcome is committed before Worker hears of it, so Worker never deletes a job whose
 * outcome is not durable. Failures that must not be retried (permanent, or the last attempt) are
 * recorded as failed and reported to Worker as done, so Worker does not keep them.
 */
export function wrapTask(type: string, def: AnyTaskDefinition, deps: WrapDeps): Task {
  const { tracker, logger } = deps;
  return async (payload: unknown, helpers: JobHelpers) => {
    const gwJob = helpers.job;
    const id = trackedId(payload);
    const row: Job | null = id
      ? await tracker.startTracked({ id, attempt: gwJob.attempts, gwJobId: gwJob.id })
      : await tracker.startUntracked({
          gwJobId: gwJob.id,
          type,
          queue: (await helpers.getQueueName()) ?? null,
          payload,
          priority: gwJob.priority,
          attempt: gwJob.attempts,
          maxAttempts: gwJob.max_attempts,
          runAt: new Date(gwJob.run_at),
          source:
            payload && typeof payload === 'object' && '_cron' in payload
              ? 'cron'
              : 'graphile_worker',
        });
    if (!row) {
      // Cancelled, already finished (a finish that Worker did not hear of), or pruned: nothing to run.
      logger.debug(`skipping ${type} job ${id ?? `gw:${gwJob.id}`}: not runnable any more`);
      return;
    }

    const attempt = gwJob.attempts;
    const controller = new AbortController();
    const onShutdown = () =>
      controller.abort(helpers.abortSignal.reason ?? new Error('worker is shutting down'));
    if (helpers.abortSignal.aborted) onShutdown();
    else helpers.abortSignal.addEventListener('abort', onShutdown, { once: true });
    let currentStep: string | null = row.current_step;
    const cpuStart = process.cpuUsage();

    const finish = async (
      outcome: Omit<Parameters<Tracker['finish']>[0], 'id' | 'peakRssBytes' | 'cpuMs'>,
    ) => {
      const cpu = process.cpuUsage(cpuStart);
      await tracker.finish({
        id: row.id,
        ...outcome,
        peakRssBytes: process.resourceUsage().maxRSS * 1024,
        cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      });
    };

    try {
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
          return tracker.progress({
            id: row.id,
            ...patch,
            ...(step !== undefined ? { step: currentStep! } : {}),
          });
        },
        step(name) {
          currentStep = checkStep(name);
          return tracker.progress({ id: row.id, step: currentStep });
        },
        log(level, message, data) {
          if (!LEVELS.includes(level))
            throw new TypeError(
              `log level must be one of ${LEVELS.join(', ')}, got ${String(level)}`,
            );
          if (typeof message !== 'string') throw new TypeError('log message must be a string');
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
      const value = await def.run(ctx);
      let resultJson: string | null;
      try {
        resultJson = value === undefined ? null : (JSON.stringify(value) ?? null);
      } catch (error) {
        throw new PermanentJobError(`the task's result is not JSON: ${(error as Error).message}`);
      }
      await finish({ status: 'succeeded', resultJson });
    } catch (error) {
      const permanent = isPermanent(error);
      const last = attempt >= gwJob.max_attempts;
      const record = attemptError(error, attempt, permanent);
      if (permanent || last) {
        await finish({ status: 'failed', error: record });
        logger.warn(
          `${type} job ${row.id} failed${permanent ? '' : ` after ${attempt} attempts`}: ${record.message}`,
        );
        return; // recorded as failed; Worker may forget it
      }
      await finish({ status: 'retrying', error: record });
      throw error; // Worker reschedules it
    } finally {
      helpers.abortSignal.removeEventListener('abort', onShutdown);
    }
  };
}
