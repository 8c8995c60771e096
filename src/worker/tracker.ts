import type pg from 'pg';
import type { Job, JobAttemptError } from '../db/types.ts';
import type { Logger } from '../logger.ts';
import { Lane } from './lane.ts';

/** Marks a tracked job running (it has a jobdeck row already). */
export interface StartTracked {
  id: string;
  attempt: number;
  gwJobId: string;
}

/** Marks a job added straight to Graphile Worker (or by cron) running, creating its row. */
export interface StartUntracked {
  gwJobId: string;
  type: string;
  queue: string | null;
  payload: unknown;
  priority: number;
  attempt: number;
  maxAttempts: number;
  runAt: Date;
  source: 'cron' | 'graphile_worker';
}

export interface ProgressPatch {
  id: string;
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

export interface FinishRecord {
  id: string;
  status: 'succeeded' | 'failed' | 'retrying';
  /** JSON text of the result (succeeded only). */
  resultJson?: string | null;
  error?: JobAttemptError;
  peakRssBytes?: number;
  cpuMs?: number;
  /** Filled in by the tracker: the job's latest progress patch. */
  latest?: ProgressPatch;
}

type StartItem = { tracked: StartTracked } | { untracked: StartUntracked };

const START_TRACKED = `
  update jobdeck.jobs j
     set status = 'running', attempts = v.attempt, gw_job_id = v.gw_job_id, worker_id = $2,
         started_at = now(), heartbeat_at = now(), updated_at = now(), progress = 0, current_step = null,
         completed_steps = 0, eta_at = null
    from jsonb_to_recordset($1::jsonb) as v(id uuid, attempt int, gw_job_id bigint)
   where j.id = v.id and j.status in ('queued', 'retrying', 'running')
  returning j.*`;

// Jobs Worker runs without a jobdeck row yet: the row is made on first run, found by the Worker
// job id on later attempts.
const START_UNTRACKED = `
  insert into jobdeck.jobs as j (type, queue, status, priority, payload, attempts, max_attempts, run_at,
                                 started_at, heartbeat_at, worker_id, gw_job_id, metadata)
  select v.type, v.queue, 'running', v.priority, v.payload, v.attempt, v.max_attempts, v.run_at,
         now(), now(), $2, v.gw_job_id, jsonb_build_object('source', v.source)
    from jsonb_to_recordset($1::jsonb) as v(gw_job_id bigint, type text, queue text, payload jsonb, priority int,
                                            attempt int, max_attempts int, run_at timestamptz, source text)
  on conflict (gw_job_id) where gw_job_id is not null do update
     set status = 'running', attempts = excluded.attempts, worker_id = excluded.worker_id, started_at = now(),
         heartbeat_at = now(), updated_at = now(), progress = 0, current_step = null, completed_steps = 0,
         eta_at = null
   where j.status in ('queued', 'retrying', 'running')
  returning j.*`;

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
    from jsonb_to_recordset($1::jsonb) as v(id uuid, progress int, step text, completed int, total int)
   where j.id = v.id and j.status = 'running'`;

const EVENTS = `
  insert into jobdeck.job_events (job_id, at, kind, level, message, data, step, attempt)
  select v.job_id, v.at, 'log', v.level, v.message, v.data, v.step, v.attempt
    from jsonb_to_recordset($1::jsonb) as v(job_id uuid, at timestamptz, level text, message text, data jsonb,
                                            step text, attempt int)
    join jobdeck.jobs j on j.id = v.job_id`;

// The finish carries the job's latest progress patch, so it need not wait for the progress lane;
// a progress write that lands later finds the job finished and changes nothing.
// Retrying: the next run time follows Graphile Worker's own schedule, exp(min(attempts, 10)) s.
const FINISH = `
  update jobdeck.jobs j
     set status = v.status,
         result = case when v.status = 'succeeded' then v.result else j.result end,
         errors = case when v.error is null then j.errors else j.errors || jsonb_build_array(v.error) end,
         finished_at = case when v.status in ('succeeded', 'failed') then now() end,
         progress = case when v.status = 'succeeded' then 100 else coalesce(v.progress, j.progress) end,
         current_step = coalesce(v.step, j.current_step),
         total_steps = coalesce(v.total, j.total_steps),
         completed_steps = case when v.status = 'succeeded' and coalesce(v.total, j.total_steps) is not null
                                then coalesce(v.total, j.total_steps)
                                else coalesce(v.completed, j.completed_steps) end,
         run_at = case when v.status = 'retrying'
                       then greatest(now(), j.run_at) + make_interval(secs => exp(least(j.attempts, 10)))
                       else j.run_at end,
         eta_at = null, updated_at = now(), heartbeat_at = now(),
         peak_rss_bytes = v.peak_rss_bytes, cpu_ms = v.cpu_ms
    from jsonb_to_recordset($1::jsonb) as v(id uuid, status text, result jsonb, error jsonb,
                                            peak_rss_bytes bigint, cpu_ms bigint,
                                            progress int, step text, completed int, total int)
   where j.id = v.id and j.status = 'running'
  returning j.id`;

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
  readonly #finishes: Lane<FinishRecord, boolean>;
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
        await this.#pool.query(PROGRESS, [JSON.stringify([...merged.values()])]);
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
    this.#finishes = new Lane<FinishRecord, boolean>(
      (items) => this.#writeFinishes(items),
      options.flushIntervalMs,
      warn('finishes'),
    );
  }

  /** Marks a job running; resolves to its row, or null when it must not run (cancelled, finished, gone). */
  startTracked(start: StartTracked): Promise<Job | null> {
    return this.#starts.push({ tracked: start });
  }

  startUntracked(start: StartUntracked): Promise<Job | null> {
    return this.#starts.push({ untracked: start });
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

  /** Writes a finish and resolves once it is committed (true) or found already settled (false). */
  finish(record: FinishRecord): Promise<boolean> {
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
    const tracked = items.flatMap((item) => ('tracked' in item ? [item.tracked] : []));
    const untracked = items.flatMap((item) => ('untracked' in item ? [item.untracked] : []));
    const byId = new Map<string, Job>();
    const byGwId = new Map<string, Job>();
    if (tracked.length > 0) {
      const rows = tracked.map((t) => ({ id: t.id, attempt: t.attempt, gw_job_id: t.gwJobId }));
      const result = await this.#pool.query<Job>(START_TRACKED, [
        JSON.stringify(rows),
        this.#options.workerId,
      ]);
      for (const row of result.rows) byId.set(row.id, row);
    }
    if (untracked.length > 0) {
      const rows = untracked.map((u) => ({
        gw_job_id: u.gwJobId,
        type: u.type,
        queue: u.queue,
        payload: u.payload ?? {},
        priority: u.priority,
        attempt: u.attempt,
        max_attempts: u.maxAttempts,
        run_at: u.runAt.toISOString(),
        source: u.source,
      }));
      const result = await this.#pool.query<Job>(START_UNTRACKED, [
        JSON.stringify(rows),
        this.#options.workerId,
      ]);
      for (const row of result.rows) byGwId.set(String(row.gw_job_id), row);
    }
    return items.map((item) =>
      'tracked' in item
        ? (byId.get(item.tracked.id) ?? null)
        : (byGwId.get(item.untracked.gwJobId) ?? null),
    );
  }

  async #writeFinishes(items: FinishRecord[]): Promise<boolean[]> {
    const rows = items.map((f) => ({
      id: f.id,
      status: f.status,
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
        const result = await this.#pool.query<{ id: string }>(FINISH, [JSON.stringify(rows)]);
        const done = new Set(result.rows.map((row) => row.id));
        return items.map((item) => done.has(item.id));
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
