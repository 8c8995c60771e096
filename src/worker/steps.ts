import {
  DuplicateStepError,
  JobParkedError,
  StepResultError,
  WaitTimeoutError,
} from '../errors.ts';
import { parseDuration, type Duration } from '../jobs/policy.ts';
import { checkStep } from './task-context.ts';

/** Runs a query on the worker's database (Graphile Worker's `helpers.query`). */
export type StepQuery = (text: string, values: unknown[]) => Promise<{ rows: unknown[] }>;

/** What {@link DurableSteps} needs of the attempt around it. */
export interface DurableStepsOptions {
  jobId: string;
  attempt: number;
  query: StepQuery;
  /** JOBDECK_MAX_STEP_RESULT_BYTES. */
  maxResultBytes: number;
  /** The task's `totalSteps`, or null: counted from the steps seen. */
  totalSteps: number | null;
  /** Reports the current step and steps done to the job's progress (batched, not awaited). */
  report(step: string, completed: number, total: number): void;
  /** Adds a line to the job's events. */
  log(message: string, data: unknown): void;
}

/** A step's state as a call to `begin` finds it. */
export type StepBegin = { done: true; result: unknown } | { done: false };

interface StoredStep {
  kind: 'run' | 'sleep' | 'wait';
  result: unknown;
  completed: boolean;
  timedOut: boolean;
}

/** How long `waitFor` waits when no timeout is given. */
export const DEFAULT_WAIT_TIMEOUT_MS = 7 * 86_400_000;

// Writes only while this attempt is the job's current one: a worker that was declared dead and
// rescued must not overwrite what the attempt after it stored. (Before its running mark the row
// still waits for this attempt: `queued`/`retrying` with one attempt fewer.)
const CURRENT = `exists (select 1 from jobdeck.jobs j where j.id = $1
    and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
    and ((j.status = 'running' and j.attempts = $2)
      or (j.status in ('queued', 'retrying') and j.attempts = $2 - 1)))`;

const LOAD = `select name, kind, result, completed_at is not null as completed, timed_out
  from jobdeck.job_steps where job_id = $1`;

const SAVE = `insert into jobdeck.job_steps (job_id, name, position, kind, result, attempt, started_at, completed_at)
  select $1, $3, $4, 'run', $5::jsonb, $2, $6, now() where ${CURRENT}
  on conflict (job_id, name) do update
    set kind = 'run', position = excluded.position, result = excluded.result, attempt = excluded.attempt,
        started_at = excluded.started_at, completed_at = now(), wake_at = null, wait_event = null, timed_out = false
  returning 1`;

// A sleep or wait starts once: a later run keeps its wake time (on conflict: attempt only).
const START_WAIT = `insert into jobdeck.job_steps (job_id, name, position, kind, attempt, wake_at, wait_event)
  select $1, $3, $4, $5, $2, now() + make_interval(secs => $6::float8 / 1000), $7 where ${CURRENT}
  on conflict (job_id, name) do update set attempt = excluded.attempt, position = excluded.position
  returning wake_at, wake_at <= now() as due`;

const COMPLETE_WAIT = `update jobdeck.job_steps set completed_at = now(), timed_out = $3
  where job_id = $1 and name = $2 and completed_at is null`;

// Takes the oldest signal of the event not yet consumed and completes the wait with its data, in
// one statement (a crash leaves both done or neither).
const CONSUME_SIGNAL = `with sig as (
    select g.id, g.data from jobdeck_private.job_signals g
     where g.job_id = $1 and g.event = $2 and g.consumed_at is null
     order by g.id limit 1 for update
  ), used as (
    update jobdeck_private.job_signals g set consumed_at = now(), consumed_by = $3
      from sig where g.id = sig.id returning g.data
  ), done as (
    update jobdeck.job_steps s set completed_at = now(), result = (select data from used)
     where s.job_id = $1 and s.name = $3 and exists (select 1 from used)
  )
  select data from used`;

/**
 * The durable steps of one attempt: which steps earlier runs completed (read once, on first use),
 * which ran in this run (names must not repeat), and writing each step's result before the next
 * step starts. `sleep` and `waitFor` are steps too; they park the job (throwing
 * {@link JobParkedError}, recorded in {@link parked}) until their time or signal comes.
 */
export class DurableSteps {
  readonly #o: DurableStepsOptions;
  #loaded: Promise<Map<string, StoredStep>> | null = null;
  readonly #seen = new Set<string>();
  #completed = 0;
  #sleeps = 0;
  readonly #waits = new Map<string, number>();
  #startedAt = new Date();
  /** Set when a sleep or wait parked the job: the attempt ends parked, whatever the task does. */
  parked: JobParkedError | null = null;

  constructor(options: DurableStepsOptions) {
    this.#o = options;
  }

  #load(): Promise<Map<string, StoredStep>> {
    this.#loaded ??= this.#o.query(LOAD, [this.#o.jobId]).then((res) => {
      const steps = new Map<string, StoredStep>();
      for (const row of res.rows as {
        name: string;
        kind: StoredStep['kind'];
        result: unknown;
        completed: boolean;
        timed_out: boolean;
      }[]) {
        steps.set(row.name, {
          kind: row.kind,
          result: row.result === null ? undefined : row.result,
          completed: row.completed,
          timedOut: row.timed_out,
        });
      }
      return steps;
    });
    return this.#loaded;
  }

  /** Claims a step name for this run; its position is the order of first use. */
  #claim(name: string): number {
    checkStep(name);
    if (this.#seen.has(name)) throw new DuplicateStepError(name);
    this.#seen.add(name);
    return this.#seen.size - 1;
  }

  #total(stored: number): number {
    return this.#o.totalSteps ?? Math.max(stored, this.#seen.size, this.#completed, 1);
  }

  async #report(name: string): Promise<void> {
    const stored = (await this.#load()).size;
    const total = this.#total(stored);
    this.#o.report(name, Math.min(this.#completed, total), Math.max(total, this.#completed));
  }

  /**
   * Starts step `name`: its stored result when an earlier run completed it, otherwise `done:
   * false` (run its function, then call {@link complete}).
   */
  async begin(name: string): Promise<StepBegin> {
    this.#claim(name);
    const stored = (await this.#load()).get(name);
    if (stored?.completed && stored.kind === 'run') {
      this.#completed++;
      await this.#report(name);
      return { done: true, result: stored.result };
    }
    this.#startedAt = new Date();
    await this.#report(name);
    return { done: false };
  }

  /**
   * Stores step `name`'s result (JSON text; null for undefined), before the task goes on.
   *
   * @throws StepResultError when it is over the size limit.
   */
  async complete(name: string, resultJson: string | null): Promise<void> {
    if (!this.#seen.has(name)) throw new Error(`step "${name}" was not started`);
    const bytes = resultJson === null ? 0 : Buffer.byteLength(resultJson);
    if (bytes > this.#o.maxResultBytes)
      throw new StepResultError(
        name,
        `its result is ${bytes} bytes of JSON, over the limit of ${this.#o.maxResultBytes} (JOBDECK_MAX_STEP_RESULT_BYTES); store large data elsewhere and return a reference to it`,
      );
    const position = [...this.#seen].indexOf(name);
    const res = await this.#o.query(SAVE, [
      this.#o.jobId,
      this.#o.attempt,
      name,
      position,
      resultJson,
      this.#startedAt.toISOString(),
    ]);
    if (res.rows.length === 0)
      throw new Error(
        `step "${name}": the job has moved on (cancelled, or rescued from this worker); its result was not stored`,
      );
    this.#completed++;
    await this.#report(name);
  }

  /** Parks the job until its sleep is over; returns at once when it already is. */
  async sleep(duration: Duration, name?: string): Promise<void> {
    const ms = parseDuration(duration, 'sleep');
    const step = name ?? `sleep-${++this.#sleeps}`;
    const position = this.#claim(step);
    const stored = (await this.#load()).get(step);
    if (stored?.completed) {
      this.#completed++;
      return this.#report(step);
    }
    await this.#report(step);
    const wait = await this.#startWait(step, position, 'sleep', ms, null);
    if (wait.due) {
      await this.#o.query(COMPLETE_WAIT, [this.#o.jobId, step, false]);
      this.#completed++;
      return this.#report(step);
    }
    this.#park(wait.wakeAt, `sleeping until ${wait.wakeAt.toISOString()}`, step);
  }

  /**
   * Waits for a signal `event` (jobdeck.signal) and returns its data; parks the job until it
   * comes or `timeout` passes (then throws WaitTimeoutError).
   */
  async waitFor(
    event: string,
    options: { timeout?: Duration; name?: string } = {},
  ): Promise<unknown> {
    if (typeof event !== 'string' || event.length === 0 || event.length > 200)
      throw new TypeError(
        `waitFor needs an event name of 1 to 200 characters, got ${JSON.stringify(event)}`,
      );
    const ms =
      options.timeout === undefined
        ? DEFAULT_WAIT_TIMEOUT_MS
        : parseDuration(options.timeout, 'waitFor timeout');
    const n = (this.#waits.get(event) ?? 0) + 1;
    this.#waits.set(event, n);
    const step = options.name ?? `wait-${event}-${n}`;
    const position = this.#claim(step);
    const stored = (await this.#load()).get(step);
    if (stored?.completed) {
      if (stored.timedOut) throw new WaitTimeoutError(event, step);
      this.#completed++;
      await this.#report(step);
      return stored.result;
    }
    await this.#report(step);
    const wait = await this.#startWait(step, position, 'wait', ms, event);
    const got = await this.#o.query(CONSUME_SIGNAL, [this.#o.jobId, event, step]);
    if (got.rows.length > 0) {
      this.#completed++;
      await this.#report(step);
      const data = (got.rows[0] as { data: unknown }).data;
      return data === null ? undefined : data;
    }
    if (wait.due) {
      await this.#o.query(COMPLETE_WAIT, [this.#o.jobId, step, true]);
      throw new WaitTimeoutError(event, step);
    }
    this.#park(wait.wakeAt, `waiting for "${event}" until ${wait.wakeAt.toISOString()}`, step);
  }

  async #startWait(
    step: string,
    position: number,
    kind: 'sleep' | 'wait',
    ms: number,
    event: string | null,
  ): Promise<{ wakeAt: Date; due: boolean }> {
    const res = await this.#o.query(START_WAIT, [
      this.#o.jobId,
      this.#o.attempt,
      step,
      position,
      kind,
      ms,
      event,
    ]);
    const row = res.rows[0] as { wake_at: Date; due: boolean } | undefined;
    if (!row)
      throw new Error(
        `step "${step}": the job has moved on (cancelled, or rescued from this worker)`,
      );
    return { wakeAt: row.wake_at, due: row.due };
  }

  #park(wakeAt: Date, why: string, step: string): never {
    this.parked = new JobParkedError(wakeAt, why);
    this.#o.log(`parked: ${why}`, { step, wakeAt: wakeAt.toISOString() });
    throw this.parked;
  }
}

/**
 * A step function's return value as the JSON text to store (null for undefined).
 *
 * @throws StepResultError when it is not JSON.
 */
export function stepResultJson(name: string, value: unknown): string | null {
  try {
    return value === undefined ? null : (JSON.stringify(value) ?? null);
  } catch (error) {
    throw new StepResultError(name, `its result is not JSON: ${(error as Error).message}`);
  }
}

/** The value a step returns: its result as stored, so a first run and a replay return the same. */
export function stepValue(resultJson: string | null): unknown {
  return resultJson === null ? undefined : JSON.parse(resultJson);
}
