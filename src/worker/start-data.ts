import type pg from 'pg';
import type { Job } from '../db/types.ts';
import type { Logger } from '../logger.ts';
import type { WorkerService } from './service-runner.ts';

/**
 * What a tracked job's Graphile job carries, next to `jobdeckId`, when no flow rule covered the
 * job at enqueue: its row's values then (sql/start/graphile_payload.sql), stamped with the version
 * of the flow rules it was checked against. The worker starts the job's first attempt from it
 * without reading the row (docs/performance.md, "The start without a read").
 */
export interface StartData {
  queue: string | null;
  priority: number;
  payload: unknown;
  max_attempts: number;
  run_at: string;
  created_at: string;
  owner_id: string | null;
  org_id: string | null;
  related_type: string | null;
  related_id: string | null;
  metadata: Record<string, unknown>;
  concurrency_key: string | null;
  rate_key: string | null;
  queue_rate_key: string | null;
  fair_at: string | null;
  rules: number;
}

/** The nil id, which the cancel channel carries when the flow rules changed (sql/start/tg_flow_rules__version.sql). */
export const FLOW_RULES_CHANGED = '00000000-0000-0000-0000-000000000000';

const TEXT_OR_NULL = [
  'queue',
  'owner_id',
  'org_id',
  'related_type',
  'related_id',
  'concurrency_key',
  'rate_key',
  'queue_rate_key',
] as const;

/**
 * The start data of a Graphile payload, or null when it has none or it is not well formed (then
 * the start reads the row, as for any other job).
 */
export function startDataOf(payload: unknown): StartData | null {
  if (!payload || typeof payload !== 'object') return null;
  const start = (payload as { start?: unknown }).start;
  if (!start || typeof start !== 'object' || Array.isArray(start)) return null;
  const s = start as Record<string, unknown>;
  for (const key of TEXT_OR_NULL) if (s[key] !== null && typeof s[key] !== 'string') return null;
  if (
    !Number.isInteger(s.priority) ||
    !Number.isInteger(s.max_attempts) ||
    !Number.isInteger(s.rules) ||
    !isTime(s.run_at) ||
    !isTime(s.created_at) ||
    (s.fair_at !== null && !isTime(s.fair_at)) ||
    !s.metadata ||
    typeof s.metadata !== 'object' ||
    !('payload' in s)
  )
    return null;
  return s as unknown as StartData;
}

function isTime(value: unknown): value is string {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value));
}

/**
 * The row of a job that has not started yet, as `select * from jobdeck.jobs` would return it:
 * the start data's values, every other column at its default for a new job. Changes with
 * sql/start/graphile_payload.sql and the table (test/integration/start-data.test.ts compares).
 */
export function rowFromStartData(id: string, type: string, gwJobId: string, s: StartData): Job {
  const createdAt = new Date(s.created_at);
  return {
    id,
    type,
    queue: s.queue,
    status: 'queued',
    priority: s.priority,
    progress: 0,
    current_step: null,
    total_steps: null,
    completed_steps: 0,
    payload: s.payload,
    result: null,
    errors: [],
    attempts: 0,
    attempts_before_retry: 0,
    max_attempts: s.max_attempts,
    run_at: new Date(s.run_at),
    created_at: createdAt,
    started_at: null,
    finished_at: null,
    updated_at: createdAt,
    heartbeat_at: null,
    owner_id: s.owner_id,
    org_id: s.org_id,
    related_type: s.related_type,
    related_id: s.related_id,
    key: null,
    metadata: s.metadata,
    cancel_requested_at: null,
    cancel_reason: null,
    worker_id: null,
    gw_job_id: gwJobId,
    eta_at: null,
    peak_rss_bytes: null,
    cpu_ms: null,
    held_at: null,
    held_reason: null,
    concurrency_key: s.concurrency_key,
    rate_key: s.rate_key,
    queue_rate_key: s.queue_rate_key,
    purge_on: Infinity,
    rate_deferrals: 0,
    fair_at: s.fair_at === null ? null : new Date(s.fair_at),
    batch_id: null,
    depends_on: null,
    on_dependency_failure: null,
    has_dependants: false,
    manual_retries: 0,
    webhook_url: null,
    notify_email: null,
  };
}

/** How many hinted job ids a worker keeps (the oldest go first); each costs a read when it starts. */
export const MAX_HINTED = 100_000;

/**
 * Decides whether a job's start data may start it without a read. Start data is trusted only
 * when it is stamped with the version of the flow rules this worker knows
 * (sql/start/flow_rules_version.sql) and no cancel hint named the job (a cancel of a job already
 * fetched: sql/control/cancel_job.sql). The version is read at the worker's start, again when the
 * cancel channel says the rules changed (until that read lands, nothing is trusted), and at every
 * heartbeat, for a notice missed while the LISTEN connection was down.
 */
export class StartGate implements WorkerService {
  readonly name = 'flow rules version';
  readonly intervalMs: number;
  readonly #pool: pg.Pool;
  readonly #logger: Logger;
  #known: number | null = null;
  #reading: Promise<void> | null = null;
  #again = false;
  readonly #hinted = new Set<string>();

  constructor(pool: pg.Pool, logger: Logger, intervalMs: number) {
    this.#pool = pool;
    this.#logger = logger;
    this.intervalMs = intervalMs;
  }

  /** Whether this job may start from its start data, without a read. */
  allows(id: string, start: StartData): boolean {
    return this.#known === start.rules && !this.#hinted.has(id);
  }

  /** A cancel hint for a job not running here: it may be waiting in this worker's local queue. */
  hint(id: string): void {
    this.#hinted.delete(id);
    this.#hinted.add(id);
    if (this.#hinted.size > MAX_HINTED) this.#hinted.delete(this.#hinted.values().next().value!);
  }

  /** The rules changed: trust no start data until the version is read again. */
  rulesChanged(): Promise<void> {
    this.#known = null;
    return this.#read(true);
  }

  /** The heartbeat's poll (a WorkerService round). */
  runOnce(): Promise<void> {
    return this.#read(false);
  }

  #read(invalidated: boolean): Promise<void> {
    if (this.#reading) {
      if (invalidated) this.#again = true;
      return this.#reading;
    }
    this.#reading = this.#query().finally(() => {
      this.#reading = null;
      if (this.#again) {
        this.#again = false;
        void this.#read(true);
      }
    });
    return this.#reading;
  }

  async #query(): Promise<void> {
    try {
      const { rows } = await this.#pool.query<{ version: string }>(
        'select jobdeck_private.flow_rules_version()::text as version',
      );
      // A change announced while this read ran is read again after it (#again).
      if (!this.#again) this.#known = Number(rows[0]!.version);
    } catch (error) {
      this.#known = null;
      this.#logger.warn(`could not read the flow rules' version: ${(error as Error).message}`);
    }
  }
}
