import type { JobHelpers } from 'graphile-worker';
import type { z } from 'zod';
import type { Job, JobEventLevel } from '../db/types.ts';

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
  /** Aborts when the job should stop (worker shutdown now; cancellation later). */
  signal: AbortSignal;
  /**
   * Reports progress, optionally naming the current step. Writes are batched: calls in quick
   * succession cost one row update, the latest value wins. Await it if you need it stored.
   */
  progress(value: ProgressValue, step?: string): Promise<void>;
  /** Names the current step without changing the percentage. */
  step(name: string): Promise<void>;
  /** Appends a log line to the job's events (shown in `jobdeck watch` and the API). */
  log(level: JobEventLevel, message: string, data?: unknown): Promise<void>;
  /** Graphile Worker's helpers (withPgClient, logger, …) for anything else. */
  helpers: JobHelpers;
}

/** A task module's default export. */
export interface TaskDefinition<S extends z.ZodType = z.ZodType, R = unknown> {
  /** Payload schema: checked at enqueue (in SQL, for every path) and parsed before `run`. */
  payload?: S;
  /** Attempts before the job is marked failed (default: JOBDECK_DEFAULT_MAX_ATTEMPTS). */
  maxAttempts?: number;
  /** Largest accepted payload, in bytes of JSON (default: JOBDECK_MAX_PAYLOAD_BYTES). */
  maxPayloadBytes?: number;
  /** One line for `jobdeck tasks` and the docs. */
  description?: string;
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
