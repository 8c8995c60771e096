import type { JobHelpers } from 'graphile-worker';
import { JOB_EVENT_LEVELS, type Job, type JobEventLevel } from '../db/types.ts';
import { RateLimitedError } from '../errors.ts';
import type { Duration } from '../jobs/policy.ts';
import type { ProgressValue, TaskContext } from '../jobs/task.ts';
import { stepResultJson, stepValue, type DurableSteps } from './steps.ts';
import { noteStepReplayed, tracedStep } from '../telemetry/tracing.ts';
import type { Tracker } from './tracker.ts';

/** One attempt running in this process, as the task wrapper and the task's context share it. */
export interface AttemptState {
  readonly row: Job;
  readonly attempt: number;
  readonly controller: AbortController;
  /** The step the task named last; its log lines carry it. */
  currentStep: string | null;
  /** Once the attempt's outcome is settled (or it was abandoned), late calls write nothing. */
  settled: boolean;
  /** The attempt's durable steps (ctx.step with a function, sleep, waitFor). */
  readonly steps: DurableSteps;
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

/** Checks a task's log call, in process or in its own (task-process.ts). */
export function checkLogLine(level: unknown, message: unknown): void {
  if (!JOB_EVENT_LEVELS.includes(level as JobEventLevel))
    throw new TypeError(
      `log level must be one of ${JOB_EVENT_LEVELS.join(', ')}, got ${String(level)}`,
    );
  if (typeof message !== 'string') throw new TypeError('log message must be a string');
}

export function checkStep(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
    throw new TypeError(
      `step must be a non-empty string of at most 200 characters, got ${JSON.stringify(name)}`,
    );
  }
  return name;
}

/**
 * The context a task runs with: its parsed payload, its row, its signal, and progress, steps and
 * log lines, which go to the tracker's lanes (checked here, so a bad call throws in the task).
 */
export function makeTaskContext(
  state: AttemptState,
  payload: unknown,
  helpers: JobHelpers,
  tracker: Tracker,
): TaskContext<unknown> {
  const { row, attempt } = state;
  return {
    payload,
    job: row,
    attempt,
    signal: state.controller.signal,
    helpers,
    progress(value, step) {
      const patch = progressPatch(value);
      if (step !== undefined) state.currentStep = checkStep(step);
      if (state.settled) return Promise.resolve();
      return tracker.progress({
        id: row.id,
        attempt,
        ...patch,
        ...(step !== undefined ? { step: state.currentStep! } : {}),
      });
    },
    step: (async (name: string, run?: () => unknown) => {
      if (run === undefined) {
        state.currentStep = checkStep(name);
        if (state.settled) return;
        return tracker.progress({ id: row.id, attempt, step: state.currentStep });
      }
      if (typeof run !== 'function')
        throw new TypeError(`step "${String(name)}": the second argument must be a function`);
      const begun = await state.steps.begin(name);
      if (begun.done) {
        noteStepReplayed(name);
        return begun.result;
      }
      return tracedStep(name, async () => {
        const json = stepResultJson(name, await run());
        await state.steps.complete(name, json);
        return stepValue(json);
      });
    }) as TaskContext<unknown>['step'],
    sleep(duration, options) {
      return state.steps.sleep(duration, options?.name);
    },
    rateLimited(retryAfter: Duration): never {
      throw new RateLimitedError({ retryAfter });
    },
    waitFor: ((event: string, options?: { timeout?: Duration; name?: string }) =>
      state.steps.waitFor(event, options)) as TaskContext<unknown>['waitFor'],
    log(level, message, data) {
      checkLogLine(level, message);
      if (state.settled) return Promise.resolve();
      return tracker.log({
        jobId: row.id,
        level,
        message: message.slice(0, 10_000),
        data,
        step: state.currentStep,
        attempt,
        at: new Date(),
      });
    },
  };
}
