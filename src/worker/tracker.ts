import type pg from 'pg';
import type { Job, JobAttemptError } from '../db/types.ts';
import type { Logger } from '../logger.ts';
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
export type FinishOutcome = 'succeeded' | 'error' | 'cancelled' | 'interrupted';

export interface FinishRecord {
  id: string;
  /** The attempt number this worker started (a stale finish for another attempt is ignored). */
  attempt: number;
  outcome: FinishOutcome;
  /** For `error`: whether the failure may be retried (attempts permitting). */
  retryable?: boolean;
  /** JSON text of the result (succeeded only). */
  resultJson?: string | null;
  error?: JobAttemptError;
  peakRssBytes?: number;
  cpuMs?: number;
  /** Filled in by the tracker: the job's latest progress patch. */
  latest?: ProgressPatch;
}

/** The status a finish left the job in; null when it changed nothing (the job had moved on). */
export type FinishResult = 'succeeded' | 'failed' | 'retrying' | 'cancelled' | 'queued' | null;

// Latest value wins per job; ETA extrapolates the attempt's progress rate.
const PROGRESS = `
  update jobdeck.jobs j
     set progress = coalesce(v.progress, j.progress),
         current_step = coalesce(v.step, j.current_step),
         completed_steps = coalesce(v.completed, j.completed_steps),
         total_steps = coalesce(v.total, j.total_steps),
         eta_at = case
           when coalesce(v.progress, j.progress) between 1 and 99 and j.started_at is not null
             then now() + (now() - j.started_at) * ((100 - coalesce(v.progress, j.progress))::float8 / coalesce(v.progress, j.progress))
         end,
         heartbeat_at = now(), updated_at = now()
    from jsonb_to_recordset($1::jsonb) as v(id uuid, attempt int, progress int, step text, completed int, total int)
   where j.id = v.id and j.status = 'running' and j.worker_id = $2 and j.attempts = v.attempt`;

const EVENTS = `
  insert into jobdeck.job_events (job_id, at, kind, level, message, data, step, attempt)
  select v.job_id, v.at, 'log', v.level, v.message, v.data, v.step, v.attempt
    from jsonb_to_recordset($1::jsonb) as v(job_id uuid, at timestamptz, level text, message text, data jsonb,
                                            step text, attempt int)
    join jobdeck.jobs j on j.id = v.job_id`;

// The finish carries the job's latest progress patch, so it need not wait for the progress lane;
// a progress write that lands later finds the job finished and changes nothing.
const FINISH = `select * from jobdeck_private.finish_jobs($1::jsonb, $2)`;
const START = `select * from jobdeck_private.start_jobs($1::jsonb, $2)`;

export interface TrackerOptions {
  workerId: string;
  /** How long the first write of a batch waits for company; 0 = next tick. */
  flushIntervalMs: number;
  logger: Logger;
}

/**
 * The worker's write path. Start marks, progress, log lines and finishes each have a lane that
 * writes one statement per batch, so a busy worker costs a handful of commits per flush instead
 * of several per job. Start and finish callers wait for their batch to commit; progress and logs
 * are fire-and-forget but can be awaited.
 */
export class Tracker {
  readonly #pool: pg.Pool;
  readonly #options: TrackerOptions;
  readonly #starts: Lane<StartItem, Job | null>;
  readonly #progress: Lane<ProgressPatch>;
  readonly #events: Lane<EventRecord>;
  readonly #finishes: Lane<FinishRecord, FinishResult>;
  /** Each running job's progress so far (merged), handed to its finish. */
  readonly #latest = new Map<string, ProgressPatch>();

  constructor(pool: pg.Pool, options: TrackerOptions) {
    this.#pool = pool;
    this.#options = options;
    const warn = (what: string) => (error: Error, items: unknown[]) =>
      options.logger.warn(`could not write ${items.length} ${what}: ${error.message}`);
    this.#starts = new Lane<StartItem, Job | null>(
      (items) => this.#writeStarts(items),
      options.flushIntervalMs,
      warn('start marks'),
    );
    this.#progress = new Lane<ProgressPatch, void>(
      async (items) => {
        const merged = new Map<string, ProgressPatch>();
        for (const item of items)
          merged.set(item.id, { ...merged.get(item.id), ...stripUndefined(item) } as ProgressPatch);
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
   * Marks a job running; resolves to its row, or null when it must not run now (cancelled,
   * finished, superseded, or held back by its organisation's concurrency cap).
   */
  start(item: StartItem): Promise<Job | null> {
    return this.#starts.push(item);
  }

  /**
   * Queues a progress patch. Patches for one job that meet in a batch merge, the latest value
   * winning. Never rejects: a lost progress write is logged, and the next one repairs it.
   */
  progress(patch: ProgressPatch): Promise<void> {
    const latest = this.#latest.get(patch.id);
    this.#latest.set(
      patch.id,
      latest ? ({ ...latest, ...stripUndefined(patch) } as ProgressPatch) : patch,
    );
    return this.#progress.push(patch).catch(() => {});
  }

  /** Queues a log line. Never rejects (see {@link progress}). */
  log(event: EventRecord): Promise<void> {
    return this.#events.push(event).catch(() => {});
  }

  /** Writes a finish; resolves once committed to the status it left the job in. */
  finish(record: FinishRecord): Promise<FinishResult> {
    const latest = this.#latest.get(record.id);
    this.#latest.delete(record.id);
    return this.#finishes.push(latest ? { ...record, latest } : record);
  }

  async close(): Promise<void> {
    await Promise.all([
      this.#starts.drain(),
      this.#progress.drain(),
      this.#events.drain(),
      this.#finishes.drain(),
    ]);
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
    const result = await this.#pool.query<Job>(START, [
      JSON.stringify(rows),
      this.#options.workerId,
    ]);
    const byGwId = new Map<string, Job>();
    for (const row of result.rows) byGwId.set(String(row.gw_job_id), row);
    return items.map((item) => byGwId.get(item.gwJobId) ?? null);
  }

  async #writeFinishes(items: FinishRecord[]): Promise<FinishResult[]> {
    const rows = items.map((f) => ({
      id: f.id,
      attempt: f.attempt,
      outcome: f.outcome,
      retryable: f.retryable ?? false,
      result: f.resultJson === undefined || f.resultJson === null ? null : JSON.parse(f.resultJson),
      error: f.error ?? null,
      peak_rss_bytes: f.peakRssBytes ?? null,
      cpu_ms: f.cpuMs ?? null,
      progress: f.latest?.progress ?? null,
      step: f.latest?.step ?? null,
      completed: f.latest?.completed ?? null,
      total: f.latest?.total ?? null,
    }));
    // A finish must be durable before Worker forgets the job: retry transient failures briefly.
    let lastError: unknown;
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        const result = await this.#pool.query<{ id: string; status: FinishResult }>(FINISH, [
          JSON.stringify(rows),
          this.#options.workerId,
        ]);
        const done = new Map(result.rows.map((row) => [row.id, row.status]));
        return items.map((item) => done.get(item.id) ?? null);
      } catch (error) {
        lastError = error;
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
    throw lastError;
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
