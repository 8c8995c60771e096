import type { Job as GraphileJob, JobHelpers, Task } from 'graphile-worker';
import type { ZodType } from 'zod';
import {
  JobCancelledError,
  JobTimeoutError,
  PermanentJobError,
  WorkerShutdownError,
} from '../errors.ts';
import { isJobId } from '../jobs/ids.ts';
import { taskFileOf, type TaskSettings } from '../jobs/registry.ts';
import type { AnyTaskDefinition } from '../jobs/task.ts';
import type { Logger } from '../logger.ts';
import { cpuMs, processRss, type ActiveJob, type ActiveJobs } from './active.ts';
import { withGrace } from './grace.ts';
import { runIsolatedAttempt, type IsolatedAttempt } from './isolated-attempt.ts';
import {
  reportFinish,
  returnedOutcome,
  thrownOutcome,
  type Outcome,
  type OutcomePolicy,
} from './outcome.ts';
import { DurableSteps } from './steps.ts';
import type { Span } from '@opentelemetry/api';
import { endAttemptSpan, startAttemptSpan, withSpan } from '../telemetry/tracing.ts';
import { makeTaskContext, progressPatch, type AttemptState } from './task-context.ts';
import type { Begun, StartItem, Tracker } from './tracker.ts';
import { rowFromStartData, startDataOf, type StartGate } from './start-data.ts';
import { sleep } from '../util/sleep.ts';

/** The most a rate limit admits a job ahead of its slot (sql/rate/admit_rated.sql's lead). */
const MAX_AHEAD_MS = 250;

/** What {@link wrapTask} needs of the worker around it. */
export interface WrapDeps {
  tracker: Tracker;
  /** Finishes allowed in flight before a task slot waits for its own (see Tracker.finishBacklog). */
  finishBacklogLimit: number;
  logger: Logger;
  active: ActiveJobs;
  settings: TaskSettings;
  /** JOBDECK_MAX_STEP_RESULT_BYTES (default 1 MiB). */
  maxStepResultBytes?: number;
  /** Whether a job's start data may start it without a read (src/worker/start-data.ts). */
  gate: StartGate;
}

/** An attempt from its start here to its outcome. */
interface RunningAttempt extends AttemptState {
  /** Its entry in the process's active jobs (resource figures, cancels). */
  readonly job: ActiveJob;
  readonly startedAt: Date;
  /** Aborts the signal when Graphile Worker shuts down. */
  readonly onShutdown: () => void;
  readonly timeout: NodeJS.Timeout | undefined;
  /** The attempt's own process, for a task type with limits. */
  isolated: IsolatedAttempt | null;
  /** The attempt's trace span (a no-op unless an OpenTelemetry SDK is registered). */
  readonly span: Span;
}

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
  const { tracker, logger, settings } = deps;
  const policy: OutcomePolicy = { type, settings, logger };
  const file = settings.limits ? taskFileOf(def) : undefined;
  if (settings.limits && !file)
    throw new Error(
      `task "${type}" has limits, which run each attempt in its own process from the task's module file; load it with loadTasks(folder)`,
    );
  return async (payload: unknown, helpers: JobHelpers) => {
    const id = trackedId(payload);
    // The first fetch of a Graphile job with start data the gate trusts starts without a read;
    // a fetch after a failed wrapper or a rescue (attempts > 1), or any other job, reads the row.
    const start = id && helpers.job.attempts === 1 ? startDataOf(payload) : null;
    const begun =
      id && start && deps.gate.allows(id, start)
        ? tracker.begin(rowFromStartData(id, type, helpers.job.id, start))
        : await tracker.start(
            startItem(
              type,
              id,
              payload,
              id ? null : ((await helpers.getQueueName()) ?? null),
              helpers.job,
              settings,
            ),
          );
    if (!begun) {
      // Cancelled, finished, superseded by a newer attempt, or held back by a concurrency cap.
      logger.debug(`not running ${type} job ${id ?? `gw:${helpers.job.id}`} now`);
      return;
    }
    const untilSlot = slotWaitMs(begun);
    if (untilSlot > 0) await sleep(untilSlot);
    const state = beginAttempt(type, begun, helpers, deps, def.totalSteps ?? null);
    let outcome: Outcome;
    try {
      if (state.row.cancel_requested_at) throw new JobCancelledError(state.row.cancel_reason);
      // The attempt's span is the active one while the task runs: its own spans nest under it.
      const work = withSpan(state.span, () =>
        file
          ? runIsolated(def, type, file, state, helpers, deps)
          : runTask(def, type, state, helpers, tracker),
      );
      const value = await withGrace(work, state.controller.signal, settings.cancelGraceMs);
      outcome = state.steps.parked
        ? parkedOutcome(state)
        : returnedOutcome(value, state.controller.signal);
    } catch (error) {
      outcome = state.steps.parked ? parkedOutcome(state) : thrownOutcome(error, state, policy);
    } finally {
      endAttempt(state, helpers, deps.active);
    }
    // Handed back to Graphile Worker without waiting for the finish to commit: were this process
    // to die first, the job is rescued (marked) or requeued as an orphan (unmarked), never lost.
    // Past the backlog limit the slot waits, so outcomes never pile up unwritten.
    const finishing = recordOutcome(state, outcome, helpers.job.id, deps, type);
    if (tracker.finishBacklog > deps.finishBacklogLimit) await finishing;
  };
}

/**
 * How long a started attempt waits before its task runs: a job a rate limit admitted ahead of
 * its slot starts at the slot (sql/rate/admit_rated.sql), its started_at, that long after the
 * start transaction's time (updated_at; both from the database's clock). Only a row the start
 * marked (start_jobs) says so: on the fast path the tracker fills started_at in with this
 * process's clock. At most {@link MAX_AHEAD_MS}.
 */
export function slotWaitMs(begun: Pick<Begun, 'marked' | 'row'>): number {
  const { row } = begun;
  if (!begun.marked || !row.started_at) return 0;
  const ahead = new Date(row.started_at).getTime() - new Date(row.updated_at).getTime();
  return Math.max(0, Math.min(ahead, MAX_AHEAD_MS));
}

/**
 * The Worker payload of a job enqueued through jobdeck: a pointer to its tracked row, with its
 * start data or without (sql/start/graphile_payload.sql).
 */
function trackedId(payload: unknown): string | null {
  if (payload && typeof payload === 'object' && !Array.isArray(payload)) {
    const keys = Object.keys(payload);
    const id = (payload as { jobdeckId?: unknown }).jobdeckId;
    if (isJobId(id) && (keys.length === 1 || (keys.length === 2 && 'start' in payload))) return id;
  }
  return null;
}

/** What the tracker's start needs: the tracked row's id, or what makes the row of an untracked job. */
function startItem(
  type: string,
  id: string | null,
  payload: unknown,
  queue: string | null,
  gwJob: GraphileJob,
  settings: TaskSettings,
): StartItem {
  const fromCron = !id && !!payload && typeof payload === 'object' && '_cron' in payload;
  return {
    id,
    gwJobId: gwJob.id,
    type,
    queue,
    payload: id ? undefined : payload,
    priority: gwJob.priority,
    // A plain add_job keeps the attempts its caller asked for; cron runs get the type's.
    maxAttempts: fromCron ? settings.maxAttempts : gwJob.max_attempts,
    runAt: new Date(gwJob.run_at),
    source: id ? 'jobdeck' : fromCron ? 'cron' : 'graphile_worker',
  };
}

/**
 * Registers a started attempt as running here, queues its running mark when the start did not
 * write one, and arms its signal: Graphile Worker's shutdown and the type's timeout abort it.
 */
function beginAttempt(
  type: string,
  begun: Begun,
  helpers: JobHelpers,
  deps: WrapDeps,
  totalSteps: number | null,
): RunningAttempt {
  const { row, attempt } = begun;
  const { tracker, active, settings } = deps;
  const startedAt = row.started_at ?? new Date();
  const controller = new AbortController();
  const job = active.add({ id: row.id, type, attempt, controller, marked: begun.marked });
  if (!begun.marked) {
    tracker.mark({
      id: row.id,
      gwJobId: helpers.job.id,
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
  const { timeoutMs } = settings;
  const timeout =
    timeoutMs === null
      ? undefined
      : setTimeout(() => {
          if (!controller.signal.aborted) controller.abort(new JobTimeoutError(timeoutMs));
        }, timeoutMs);
  const currentStep = row.current_step;
  const steps = new DurableSteps({
    jobId: row.id,
    attempt,
    query: (text, values) => helpers.query(text, values),
    maxResultBytes: deps.maxStepResultBytes ?? 1024 * 1024,
    totalSteps,
    report: (step, completed, total) => {
      // Called only while the task runs, after attemptState exists.
      attemptState.currentStep = step;
      if (attemptState.settled) return;
      void tracker.progress({
        id: row.id,
        attempt,
        ...progressPatch({ completed, total }),
        step,
      });
    },
    log: (message, data) =>
      void tracker.log({ jobId: row.id, level: 'info', message, data, attempt, at: new Date() }),
  });
  const attemptState: RunningAttempt = {
    row,
    attempt,
    controller,
    job,
    startedAt,
    onShutdown,
    timeout,
    currentStep,
    settled: false,
    isolated: null,
    steps,
    span: startAttemptSpan(row, attempt),
  };
  return attemptState;
}

/**
 * The outcome of an attempt a sleep or wait parked: back to `queued` to run at its wake time,
 * the attempt unspent (finish_jobs) — not a failure, not a retry. A cancel still wins.
 */
function parkedOutcome(state: RunningAttempt): Outcome {
  if (state.controller.signal.reason instanceof JobCancelledError) return { outcome: 'cancelled' };
  return { outcome: 'parked', wakeAt: state.steps.parked!.wakeAt };
}

/** Checks the payload against the type's schema, then runs the task with its context. */
async function runTask(
  def: AnyTaskDefinition,
  type: string,
  state: AttemptState,
  helpers: JobHelpers,
  tracker: Tracker,
): Promise<unknown> {
  return def.run(makeTaskContext(state, parsePayload(def, type, state), helpers, tracker));
}

/**
 * Runs the attempt of a type with limits in its own process (src/worker/isolated-attempt.ts),
 * after checking its payload here. The process's figures become the job's.
 */
async function runIsolated(
  def: AnyTaskDefinition,
  type: string,
  file: string,
  state: RunningAttempt,
  helpers: JobHelpers,
  deps: WrapDeps,
): Promise<unknown> {
  const payload = parsePayload(def, type, state);
  const usage = { peakRssBytes: 0, cpuMs: 0 };
  state.job.usage = usage;
  state.isolated = runIsolatedAttempt({
    type,
    file,
    limits: deps.settings.limits!,
    payload,
    ctx: makeTaskContext(state, payload, helpers, deps.tracker),
    steps: state.steps,
    helpers,
    usage,
  });
  return state.isolated.result;
}

/** The payload parsed by the type's schema; PermanentJobError naming every problem when invalid. */
function parsePayload(def: AnyTaskDefinition, type: string, state: AttemptState): unknown {
  let parsed: unknown = state.row.payload;
  if (def.payload) {
    const result = (def.payload as ZodType).safeParse(state.row.payload);
    if (!result.success) {
      const problems = result.error.issues.map(
        (issue) => `payload${issue.path.map((p) => `.${String(p)}`).join('')}: ${issue.message}`,
      );
      throw new PermanentJobError(`invalid payload for job type "${type}": ${problems.join('; ')}`);
    }
    parsed = result.data;
  }
  return parsed;
}

/** Disarms the attempt's signal and forgets it; from here on its context writes nothing. */
function endAttempt(state: RunningAttempt, helpers: JobHelpers, active: ActiveJobs): void {
  state.settled = true;
  // A task abandoned after its grace is stopped for good when it has its own process.
  state.isolated?.kill();
  clearTimeout(state.timeout);
  helpers.abortSignal.removeEventListener('abort', state.onShutdown);
  active.delete(state.row.id);
}

/** Queues the attempt's finish; settles once it is committed and logged (never rejects). */
function recordOutcome(
  state: RunningAttempt,
  outcome: Outcome,
  gwJobId: string,
  deps: WrapDeps,
  type: string,
): Promise<void> {
  const { row, attempt, job } = state;
  const { logger } = deps;
  return deps.tracker
    .finish({
      id: row.id,
      gwJobId,
      startedAt: state.startedAt,
      attempt,
      ...outcome,
      peakRssBytes: job.usage ? job.usage.peakRssBytes : Math.max(job.peakRssBytes, processRss()),
      cpuMs: job.usage ? job.usage.cpuMs : cpuMs(job),
    })
    .then(
      (status) => {
        endAttemptSpan(state.span, outcome.outcome, status, outcome.error);
        reportFinish(logger, type, row.id, attempt, outcome.outcome, status, outcome.error);
      },
      (error: Error) => {
        endAttemptSpan(state.span, outcome.outcome, null, error);
        logger.error(
          `${type} job ${row.id}: could not record the outcome of attempt ${attempt}: ${error.message}`,
        );
      },
    );
}
