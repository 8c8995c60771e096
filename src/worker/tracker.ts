import pg from 'pg';
import type { Job, JobAttemptError } from '../db/types.ts';
import type { JobStatus } from '../jobs/states.ts';
import type { Logger } from '../logger.ts';
import { RateWake } from './rate-wake.ts';
import { Lane } from './lane.ts';

/**
 * Marks a job running. `id` is the tracked row's id from the Worker payload, or null for a job
 * added straight to Graphile Worker (or by cron), whose row is made on first run.
 */
export interface StartItem {
  id: string | null;
  gwJobId: string;
  type: string;
  queue: string | null;
  /** Untracked jobs only: Worker's payload becomes the row's payload. */
  payload?: unknown;
  priority: number;
  maxAttempts: number;
  runAt: Date;
  source: 'jobdeck' | 'cron' | 'graphile_worker';
}

export interface ProgressPatch {
  id: string;
  /** The attempt writing it: a late write from an earlier attempt changes nothing. */
  attempt: number;
  progress?: number;
  step?: string;
  completed?: number;
  total?: number;
}

export interface EventRecord {
  jobId: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  data?: unknown;
  step?: string | null;
  attempt?: number;
  at: Date;
}

/** How an attempt ended, as the wrapper saw it; `finish_jobs` decides the status. */
export type FinishOutcome =
  'succeeded' | 'error' | 'cancelled' | 'interrupted' | 'rate_limited' | 'parked';

export interface FinishRecord {
  id: string;
  /** The Graphile job this attempt ran as (matches an attempt that was never marked running). */
  gwJobId: string;
  /** When the attempt started here (written for an attempt that was never marked running). */
  startedAt: Date;
  /** The attempt number this worker started (a stale finish for another attempt is ignored). */
  attempt: number;
  outcome: FinishOutcome;
  /** For `error`: whether the failure may be retried (attempts permitting). */
  retryable?: boolean;
  /** JSON text of the result (succeeded only). */
  resultJson?: string | null;
  error?: JobAttemptError;
  /** For `rate_limited`: how long the job waits before its next attempt, in ms. */
  delayMs?: number;
  /** For `parked` (ctx.sleep, ctx.waitFor): when the job runs again. */
  wakeAt?: Date;
  peakRssBytes?: number;
  cpuMs?: number;
  /** Filled in by the tracker: the job's latest progress patch. */
  latest?: ProgressPatch;
}

/** The status a finish left the job in; null when it changed nothing (the job had moved on). */
export type FinishResult = Exclude<JobStatus, 'running'> | null;

/** A started attempt, as `start` hands it to the task wrapper. */
export interface Begun {
  /** The job's row as the attempt sees it (status `running`, attempts counting this one). */
  row: Job;
  attempt: number;
  /** Whether `running` is already written; when not, call {@link Tracker.mark}. */
  marked: boolean;
}

/** An attempt that started without a running mark, waiting for its mark to go out. */
export interface MarkRequest {
  id: string;
  gwJobId: string;
  attempt: number;
  startedAt: Date;
  /** Called once `running` is committed. */
  onMarked: () => void;
  /** Called when the row no longer waited for this attempt (e.g. `cancelled` meanwhile). */
  onRefused: (status: string | null) => void;
}

interface Tracked {
  request: MarkRequest;
  state: 'pending' | 'marking' | 'marked';
  /** Progress reported while the mark was in flight, to write once it lands. */
  dirty: boolean;
  /** Settles when the mark (and any progress written after it) is done. */
  done: Promise<void>;
}

// Latest value wins per job; the ETA is the one formula of sql/worker/estimate_eta.sql (inlined).
const PROGRESS = `
  update jobdeck.jobs j
     set progress = coalesce(v.progress, j.progress),
         current_step = coalesce(v.step, j.current_step),
         completed_steps = coalesce(v.completed, j.completed_steps),
         total_steps = coalesce(v.total, j.total_steps),
         eta_at = jobdeck_private.estimate_eta(j.started_at, coalesce(v.progress, j.progress),
           (select t.median_ms from jobdeck_private.task_types t where t.type = j.type)),
         heartbeat_at = now(), updated_at = now()
    from jsonb_to_recordset($1::jsonb) as v(id uuid, attempt int, progress int, step text, completed int, total int)
   where j.id = v.id and j.status = 'running' and j.worker_id = $2 and j.attempts = v.attempt
     and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)`;

const EVENTS = `
  insert into jobdeck.job_events (job_id, at, kind, level, message, data, step, attempt)
  select v.job_id, v.at, 'log', v.level, v.message, v.data, v.step, v.attempt
    from jsonb_to_recordset($1::jsonb) as v(job_id uuid, at timestamptz, level text, message text, data jsonb,
                                            step text, attempt int)
    join jobdeck.jobs j on j.id = v.job_id
     and j.purge_on = 'infinity'  -- a literal: planned against jobs_live only (000024)
     -- job_events has no foreign key (000006): the lock keeps a prune from deleting the job
     -- while its log lines go in
     for key share of j`;

// The finish carries the job's latest progress patch, so it need not wait for the progress lane;
// a progress write that lands later finds the job finished and changes nothing.
const FINISH = `select * from jobdeck_private.finish_jobs($1::jsonb, $2)`;
const START = `select * from jobdeck_private.begin_jobs($1::jsonb, $2)`;
const MARK = `select * from jobdeck_private.mark_running($1::jsonb, $2)`;

export interface TrackerOptions {
  workerId: string;
  /** How long the first write of a batch waits for company; 0 = next tick. */
  flushIntervalMs: number;
  /**
   * How long after its start an attempt is marked `running`. An attempt that ends sooner is
   * written once, by its finish (the timeline still shows both transitions).
   */
  markDelayMs: number;
  logger: Logger;
}

/**
 * The worker's write path. Starts, running marks, progress, log lines and finishes each have a
 * lane that writes one statement per batch, so a busy worker costs a handful of commits per flush
 * instead of several per job.
 * - A start reads the rows (and only writes for capped or untracked jobs); the caller waits.
 * - A running mark goes out `markDelayMs` later with the latest progress, unless the attempt has
 *   ended by then: its finish writes start and end at once.
 * - Progress and log lines are fire-and-forget but can be awaited.
 * - A finish resolves once committed; the wrapper need not wait for it (docs/performance.md).
 */
export class Tracker {
  readonly #pool: pg.Pool;
  readonly #options: TrackerOptions;
  readonly #starts: Lane<StartItem, Job | null>;
  readonly #marks: Lane<Tracked>;
  readonly #progress: Lane<ProgressPatch>;
  readonly #events: Lane<EventRecord>;
  readonly #finishes: Lane<FinishRecord, FinishResult>;
  /** Each running job's progress so far (merged), handed to its mark and its finish. */
  readonly #latest = new Map<string, ProgressPatch>();
  /** Attempts started without a running mark, until they finish. */
  readonly #unmarked = new Map<string, Tracked>();
  #finishesPending = 0;
  /** Wake-ups for jobs a rate limit put back (rate-wake.ts). */
  readonly #rateWake: RateWake;

  constructor(pool: pg.Pool, options: TrackerOptions) {
    this.#pool = pool;
    this.#options = options;
    this.#rateWake = new RateWake(pool, options.logger);
    const warn = (what: string) => (error: Error, items: unknown[]) =>
      options.logger.warn(`could not write ${items.length} ${what}: ${error.message}`);
    // A start holds a task slot until it returns: it goes out at once (what arrives while one is
    // in flight forms the next batch), never waiting for company.
    this.#starts = new Lane<StartItem, Job | null>(
      (items) => this.#writeStarts(items),
      0,
      warn('start marks'),
    );
    this.#marks = new Lane<Tracked, void>(
      (items) => this.#writeMarks(items),
      options.markDelayMs,
      warn('running marks'),
    );
    this.#progress = new Lane<ProgressPatch, void>(
      async (items) => {
        const merged = new Map<string, ProgressPatch>();
        for (const item of items) {
          // A finished job's finish carried its latest progress already.
          if (!this.#latest.has(item.id)) continue;
          merged.set(item.id, { ...merged.get(item.id), ...stripUndefined(item) } as ProgressPatch);
        }
        if (merged.size === 0) return items.map(() => undefined);
        // In id order, like every multi-row write to jobs, so concurrent batches cannot deadlock.
        const rows = [...merged.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
        await this.#pool.query(PROGRESS, [JSON.stringify(rows), this.#options.workerId]);
        return items.map(() => undefined);
      },
      options.flushIntervalMs,
      warn('progress updates'),
    );
    this.#events = new Lane<EventRecord, void>(
      async (items) => {
        const rows = items.map((e) => ({
          job_id: e.jobId,
          at: e.at.toISOString(),
          level: e.level,
          message: e.message,
          data: e.data === undefined ? null : e.data,
          step: e.step ?? null,
          attempt: e.attempt ?? null,
        }));
        await this.#pool.query(EVENTS, [JSON.stringify(rows)]);
        return items.map(() => undefined);
      },
      options.flushIntervalMs,
      warn('log lines'),
    );
    this.#finishes = new Lane<FinishRecord, FinishResult>(
      (items) => this.#writeFinishes(items),
      options.flushIntervalMs,
      warn('finishes'),
    );
  }

  /**
   * Starts an attempt; resolves to the row as the attempt sees it, or null when the job must not
   * run now (cancelled, finished, superseded, or held back by its organisation's cap). When the
   * result is not `marked`, call {@link mark}.
   */
  async start(item: StartItem): Promise<Begun | null> {
    const row = await this.#starts.push(item);
    if (!row) return null;
    if (row.status === 'running') {
      this.#latest.set(row.id, { id: row.id, attempt: row.attempts });
      return { row, attempt: row.attempts, marked: true };
    }
    return this.begin(row);
  }

  /**
   * Starts an attempt of a job whose row is `row`, `queued` or `retrying` and not marked: what
   * `start` read, or what the job's start data says (src/worker/start-data.ts), without a read.
   * Call {@link mark} for it.
   */
  begin(row: Job): Begun {
    const attempt = row.attempts + 1;
    this.#latest.set(row.id, { id: row.id, attempt });
    return {
      row: {
        ...row,
        status: 'running',
        attempts: attempt,
        started_at: new Date(),
        worker_id: this.#options.workerId,
        progress: 0,
        current_step: null,
        completed_steps: 0,
        total_steps: null,
      },
      attempt,
      marked: false,
    };
  }

  /** Queues the running mark of an attempt `start` did not mark. */
  mark(request: MarkRequest): void {
    const tracked: Tracked = {
      request,
      state: 'pending',
      dirty: false,
      done: Promise.resolve(),
    };
    tracked.done = this.#marks.push(tracked).catch(() => {});
    this.#unmarked.set(request.id, tracked);
  }

  /**
   * Queues a progress patch. Patches for one job that meet in a batch merge, the latest value
   * winning; before its running mark, a job's progress goes out with the mark. Never rejects: a
   * lost progress write is logged, and the next one repairs it.
   */
  progress(patch: ProgressPatch): Promise<void> {
    const latest = this.#latest.get(patch.id);
    this.#latest.set(
      patch.id,
      latest ? ({ ...latest, ...stripUndefined(patch) } as ProgressPatch) : patch,
    );
    const unmarked = this.#unmarked.get(patch.id);
    if (unmarked) {
      // Held until the mark (or the finish) writes it; a mark in flight writes it right after.
      if (unmarked.state === 'pending') return Promise.resolve();
      unmarked.dirty = true;
      return unmarked.done;
    }
    return this.#progress.push(patch).catch(() => {});
  }

  /** Queues a log line. Never rejects (see {@link progress}). */
  log(event: EventRecord): Promise<void> {
    return this.#events.push(event).catch(() => {});
  }

  /**
   * Finishes queued or being written. Past its limit (WrapDeps.finishBacklogLimit) the task wrapper
   * waits for its finish, so a slow database slows the worker down instead of piling up outcomes
   * that are not durable yet.
   */
  get finishBacklog(): number {
    return this.#finishesPending;
  }

  /** Writes a finish; resolves once committed to the status it left the job in. */
  finish(record: FinishRecord): Promise<FinishResult> {
    const latest = this.#latest.get(record.id);
    this.#latest.delete(record.id);
    this.#unmarked.delete(record.id);
    this.#finishesPending++;
    return this.#finishes
      .push(latest ? { ...record, latest } : record)
      .finally(() => this.#finishesPending--);
  }

  /** Writes everything queued (finishes included) and waits for it. */
  async close(): Promise<void> {
    this.#rateWake.close();
    await Promise.all([
      this.#starts.drain(),
      this.#marks.drain(),
      this.#progress.drain(),
      this.#events.drain(),
      this.#finishes.drain(),
    ]);
    // Marks may have queued progress written after them.
    await this.#progress.drain();
  }

  async #writeMarks(items: Tracked[]): Promise<void[]> {
    // Attempts that have finished meanwhile are written by their finish.
    const due = items.filter(
      (t) => this.#unmarked.get(t.request.id) === t && t.state === 'pending',
    );
    if (due.length > 0) {
      due.sort((a, b) => (a.request.id < b.request.id ? -1 : 1));
      const rows = due.map((t) => {
        t.state = 'marking';
        const latest = this.#latest.get(t.request.id);
        return {
          id: t.request.id,
          gw_job_id: t.request.gwJobId,
          attempt: t.request.attempt,
          started_at: t.request.startedAt.toISOString(),
          progress: latest?.progress ?? null,
          step: latest?.step ?? null,
          completed: latest?.completed ?? null,
          total: latest?.total ?? null,
        };
      });
      let result: { id: string; marked: boolean; status: string | null }[];
      try {
        result = (await this.#pool.query(MARK, [JSON.stringify(rows), this.#options.workerId]))
          .rows;
      } catch (error) {
        // Not marked: try again in a while; the finish writes the attempt whole if it comes first.
        for (const t of due) if (t.state === 'marking') t.state = 'pending';
        setTimeout(() => {
          for (const t of due)
            if (this.#unmarked.get(t.request.id) === t && t.state === 'pending')
              t.done = this.#marks.push(t).catch(() => {});
        }, 1000).unref();
        throw error;
      }
      const byId = new Map(result.map((r) => [r.id, r]));
      const followUps: Promise<void>[] = [];
      for (const t of due) {
        const outcome = byId.get(t.request.id);
        const current = this.#unmarked.get(t.request.id) === t;
        if (current) this.#unmarked.delete(t.request.id);
        if (outcome?.marked) {
          t.request.onMarked();
          const latest = this.#latest.get(t.request.id);
          if (current && t.dirty && latest) followUps.push(this.#progress.push(latest));
        } else if (current) {
          t.request.onRefused(outcome?.status ?? null);
        }
      }
      await Promise.all(followUps);
    }
    return items.map(() => undefined);
  }

  async #writeStarts(items: StartItem[]): Promise<(Job | null)[]> {
    const rows = items.map((u) => ({
      id: u.id,
      gw_job_id: u.gwJobId,
      type: u.type,
      queue: u.queue,
      payload: u.id ? null : (u.payload ?? {}),
      priority: u.priority,
      max_attempts: u.maxAttempts,
      run_at: u.runAt.toISOString(),
      source: u.source,
    }));
    // A lost connection (PostgreSQL restarting) is waited out for up to two minutes: failing the
    // task instead would have Graphile Worker record the failure on that same lost database, and
    // a failure it cannot record leaves its job locked for hours.
    const text = JSON.stringify(rows);
    const started = Date.now();
    let result: pg.QueryResult<Job>;
    for (let attempt = 0; ; attempt++) {
      try {
        result = await this.#pool.query<Job>(START, [text, this.#options.workerId]);
        break;
      } catch (error) {
        if (!isConnectionError(error) || Date.now() - started > 120_000) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 5000)));
      }
    }
    const byGwId = new Map<string, Job>();
    for (const row of result.rows) byGwId.set(String(row.gw_job_id), row);
    const notStarted = items.filter((item) => item.id && !byGwId.has(item.gwJobId));
    // Some may wait for a rate limit's next turn: wake the workers then, not at their next poll.
    if (notStarted.length > 0) void this.#rateWake.schedule(notStarted.map((item) => item.id!));
    return items.map((item) => byGwId.get(item.gwJobId) ?? null);
  }

  async #writeFinishes(items: FinishRecord[]): Promise<FinishResult[]> {
    try {
      return await this.#writeFinishBatch(items, 4);
    } catch (error) {
      if (items.length === 1) return [await this.#writeFallbackFinish(items[0]!, error as Error)];
      // One bad record must not sink the others: write them one by one.
      this.#options.logger.warn(
        `could not write ${items.length} finishes together (${(error as Error).message}); writing them one by one`,
      );
      const results: FinishResult[] = [];
      for (const item of items) {
        try {
          results.push((await this.#writeFinishBatch([item], 2))[0]!);
        } catch (itemError) {
          results.push(await this.#writeFallbackFinish(item, itemError as Error));
        }
      }
      return results;
    }
  }

  /**
   * The outcome of `item` could not be written (e.g. its result broke a constraint): record the
   * attempt as failed with the reason, so the job does not stay `running` on a live worker.
   */
  async #writeFallbackFinish(item: FinishRecord, cause: Error): Promise<FinishResult> {
    this.#options.logger.error(
      `could not record the outcome of job ${item.id} attempt ${item.attempt}: ${cause.message}`,
    );
    const fallback: FinishRecord = {
      id: item.id,
      gwJobId: item.gwJobId,
      startedAt: item.startedAt,
      attempt: item.attempt,
      outcome: 'error',
      retryable: true,
      error: {
        at: new Date().toISOString(),
        attempt: item.attempt,
        name: 'OutcomeNotRecordedError',
        message:
          `the attempt ended (${item.outcome}) but its outcome could not be recorded: ${cause.message}`.slice(
            0,
            10_000,
          ),
        stack: null,
        permanent: false,
      },
    };
    return (await this.#writeFinishBatch([fallback], 4))[0]!;
  }

  async #writeFinishBatch(items: FinishRecord[], tries: number): Promise<FinishResult[]> {
    // In id order, like every multi-row write to jobs, so concurrent batches cannot deadlock.
    const rows = [...items]
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((f) => ({
        id: f.id,
        gw_job_id: f.gwJobId,
        started_at: f.startedAt.toISOString(),
        attempt: f.attempt,
        outcome: f.outcome,
        retryable: f.retryable ?? false,
        result:
          f.resultJson === undefined || f.resultJson === null ? null : JSON.parse(f.resultJson),
        error: f.error ?? null,
        peak_rss_bytes: f.peakRssBytes ?? null,
        cpu_ms: f.cpuMs ?? null,
        progress: f.latest?.progress ?? null,
        step: f.latest?.step ?? null,
        completed: f.latest?.completed ?? null,
        total: f.latest?.total ?? null,
        delay_ms: f.delayMs ?? null,
        wake_at: f.wakeAt ? f.wakeAt.toISOString() : null,
      }));
    const text = JSON.stringify(rows);
    // A statement the server refused is retried `tries` times; a lost connection (PostgreSQL
    // restarting, a network cut) is retried for up to two minutes: the outcome must not be lost
    // while this worker lives, since its Graphile job is already gone.
    const started = Date.now();
    let lastError: unknown;
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await this.#pool.query<{ id: string; status: FinishResult }>(FINISH, [
          text,
          this.#options.workerId,
        ]);
        const done = new Map(result.rows.map((row) => [row.id, row.status]));
        return items.map((item) => done.get(item.id) ?? null);
      } catch (error) {
        lastError = error;
        const refused =
          error instanceof pg.DatabaseError && !/^(FATAL|PANIC)$/.test(error.severity ?? '');
        if (refused ? attempt >= tries - 1 : Date.now() - started > 120_000) break;
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 5000)));
      }
    }
    throw lastError;
  }
}

/**
 * Whether an error means the connection, not the statement, failed (the server is restarting or
 * unreachable): worth waiting out. 57P03: the database system is starting up / shutting down.
 */
function isConnectionError(error: unknown): boolean {
  if (!(error instanceof pg.DatabaseError)) return true;
  return (
    /^(FATAL|PANIC)$/.test(error.severity ?? '') || error.code === '57P03' || error.code === '57P01'
  );
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
