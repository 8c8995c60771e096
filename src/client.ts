import type pg from 'pg';
import type { Kysely } from 'kysely';
import { openConnections } from './db/connections.ts';
import { createDb } from './db/pool.ts';
import type { Database, Job, JobEvent, JobStep } from './db/types.ts';
import type { Executor } from './db/executor.ts';
import { enqueueJobOn, enqueueJobsOn } from './jobs/enqueue.ts';
import { enqueueGraphOn, type JobGraph } from './jobs/graph.ts';
import type { EnqueueOptions, EnqueueSettings, JobSpec } from './jobs/enqueue.ts';
import { webhookAllowList } from './jobs/webhook-targets.ts';
import {
  activeJobs,
  getJob,
  getJobEvents,
  getJobSteps,
  listJobs,
  type ActiveJobsOptions,
  type JobPage,
  type ListJobsOptions,
} from './jobs/repository.ts';
import {
  cancelJobOn,
  jobStatsOn,
  retryJobOn,
  signalJobOn,
  type RetryJobOptions,
  type JobStats,
  type JobStatsOptions,
} from './jobs/control.ts';
import { setQueueConcurrencyOn, setQueueRateLimitOn } from './jobs/limits.ts';
import {
  listPausesOn,
  pauseOn,
  resumeOn,
  type PauseListing,
  type PauseOptions,
  type PauseResult,
  type PauseTarget,
  type ResumeResult,
} from './jobs/pauses.ts';
import type { Duration } from './jobs/policy.ts';
import type { LimitKey } from './jobs/task.ts';
import { setOrgWeightOn, setQueueFairnessOn, type Fairness } from './jobs/fairness.ts';
import {
  deleteTemplateOn,
  enqueueFromTemplateOn,
  listTemplatesOn,
  setTemplateOn,
  type JobTemplate,
  type TemplateDefinition,
} from './jobs/templates.ts';
import { loadJobChannels, type JobChannels } from './live/channels.ts';
import { watchBatch, watchJob } from './live/watch.ts';

import {
  cancelBatchOn,
  enqueueBatchOn,
  getBatch,
  type Batch,
  type EnqueueBatchOptions,
} from './batches/batches.ts';

export interface JobdeckOptions {
  /** Connection string; or pass `pool`. */
  connectionString?: string;
  /** An existing pool; jobdeck will not end it on close. */
  pool?: pg.Pool;
  /**
   * A direct connection for `watchJob`'s LISTEN, when `connectionString` (or `pool`) goes through
   * a transaction pooler such as PgBouncer, where LISTEN hears nothing (DATABASE_LISTEN_URL;
   * docs/connections.md). The client's own pool then uses no named prepared statements.
   */
  listenConnectionString?: string;
  /**
   * Internal webhook targets (CIDR ranges, addresses, host names) a job's `webhookUrl` may name;
   * default: JOBDECK_WEBHOOK_ALLOW_INTERNAL. The worker delivering the webhook checks again with
   * its own setting.
   */
  webhookAllowInternal?: readonly string[];
}

export interface EnqueueCallOptions extends EnqueueOptions {
  /**
   * Run inside the caller's transaction: a pg client (after BEGIN) or a Kysely transaction. The
   * job then exists iff that transaction commits.
   */
  tx?: Executor;
}

/** The client API: enqueue and read tracked jobs, watch them live. */
export interface Jobdeck {
  enqueueJob(type: string, payload?: unknown, options?: EnqueueCallOptions): Promise<Job>;
  enqueueJobs(specs: readonly JobSpec[], options?: { tx?: Executor }): Promise<Job[]>;
  /**
   * Enqueues jobs that depend on each other in one call, all or none: each job by a ref, its
   * `dependsOn` naming refs of the graph (or ids of existing jobs). A job is `waiting` until its
   * dependencies have succeeded; cycles are refused. Returns each ref's job. Pass `tx` to
   * enqueue in your transaction.
   */
  enqueueGraph(graph: JobGraph, options?: { tx?: Executor }): Promise<Record<string, Job>>;
  /**
   * Enqueues `specs` as one batch, all or none: one id with aggregate progress, cancellable as a
   * whole, and an optional `onComplete` job enqueued when the last job finishes, whose payload is
   * `payload` plus `{ batch: { id, total, succeeded, failed, cancelled } }`. Pass `tx` to enqueue
   * inside your transaction.
   */
  enqueueBatch(
    specs: readonly JobSpec[],
    options?: EnqueueBatchOptions & { tx?: Executor },
  ): Promise<Batch>;
  /** A batch with its aggregate progress. */
  getBatch(id: string): Promise<Batch>;
  /** Cancels every unfinished job of a batch (running ones through their worker). */
  cancelBatch(id: string, reason?: string | null, options?: { tx?: Executor }): Promise<Batch>;
  /** Yields the batch now and after each change of its counts; ends once it has finished. */
  watchBatch(
    id: string,
    options?: { signal?: AbortSignal },
  ): AsyncGenerator<Batch, void, undefined>;
  getJob(id: string): Promise<Job>;
  listJobs(options?: ListJobsOptions): Promise<JobPage>;
  activeJobs(options?: ActiveJobsOptions): Promise<Job[]>;
  getJobEvents(id: string, options?: { afterId?: string; limit?: number }): Promise<JobEvent[]>;
  /** The job's durable steps in order, with their stored results. */
  getJobSteps(id: string): Promise<JobStep[]>;
  /**
   * Cancels a job: queued/retrying at once; running through its worker (its signal aborts, the
   * row turns `cancelled` once the task stops). Pass `tx` to cancel inside your transaction.
   */
  cancelJob(id: string, reason?: string | null, options?: { tx?: Executor }): Promise<Job>;
  /**
   * Runs a failed or cancelled job again with a fresh attempt budget. Its completed durable steps
   * are kept (their stored results returned, not run again) unless `keepSteps: false`.
   */
  retryJob(id: string, options?: RetryJobOptions & { tx?: Executor }): Promise<Job>;
  /**
   * Sends a signal to a job (by id, or by the key of an unfinished job): its `ctx.waitFor(event)`
   * returns `data`, and a job parked waiting for it runs again at once. Returns the job's id.
   */
  signal(
    jobIdOrKey: string,
    event: string,
    data?: unknown,
    options?: { tx?: Executor },
  ): Promise<string>;
  /**
   * At most `maxRunning` jobs of `queue` run at once across every worker (`null` removes the
   * limit); stored in the database, so it holds across processes and restarts. Returns the limit
   * now in force. Per task type: `defineTask({ maxConcurrent })`.
   */
  setQueueConcurrency(
    queue: string,
    maxRunning: number | null,
    options?: { tx?: Executor },
  ): Promise<number | null>;
  /**
   * Pauses a queue (`{ queue }`), a task type (`{ type }`) or everything (`'all'`) on every
   * worker, until {@link Jobdeck.resume}; stored in the database, so it survives restarts. Its
   * waiting jobs stay `queued`, held with the reason `paused: …`; running ones finish unless
   * `cancelRunning`.
   */
  pause(target: PauseTarget, options?: PauseOptions & { tx?: Executor }): Promise<PauseResult>;
  /** Ends a pause; its held jobs are queued again at once. */
  resume(target: PauseTarget, options?: { tx?: Executor }): Promise<ResumeResult>;
  /** What is paused now, with the number of jobs each pause holds. */
  pauses(): Promise<PauseListing[]>;
  /**
   * At most `maxStarts` jobs of `queue` start per `period` (`"1s"`, `"1m"`, or ms) across every
   * worker (`null` removes the rate limit); stored in the database, changeable at run time.
   * `key` ('org', 'owner', `{ payload: 'field' }`) gives each key its own budget, the key
   * computed when a job is enqueued. Returns the limit now in force. Per task type:
   * `defineTask({ rateLimit })`.
   */
  setQueueRateLimit(
    queue: string,
    maxStarts: number | null,
    period?: Duration,
    options?: { tx?: Executor; key?: LimitKey },
  ): Promise<number | null>;
  /**
   * Whether new jobs of `queue` take turns by organisation (`'org'`, the default) or run first-in
   * first-out (`'off'`); `null` removes the queue's setting. Wins over `defineTask({ fairness })`.
   */
  setQueueFairness(
    queue: string,
    fairness: Fairness | null,
    options?: { tx?: Executor },
  ): Promise<Fairness | null>;
  /** Weighted fair turns: `weight` (1 to 10) turns for this organisation per turn of a weight-1 one. */
  setOrgWeight(orgId: string, weight: number | null, options?: { tx?: Executor }): Promise<number>;
  /**
   * Creates or replaces the job template `name`: a named preset of type, payload defaults,
   * priority, queue, max attempts and notifications, stored in the database (issue 21). Per-type
   * limits stay on `defineTask`.
   */
  defineTemplate(
    name: string,
    definition: TemplateDefinition,
    options?: { tx?: Executor },
  ): Promise<JobTemplate>;
  /** Removes a job template; true when it existed. */
  deleteTemplate(name: string, options?: { tx?: Executor }): Promise<boolean>;
  /** The job templates, by name; `orgId`: only the global ones and that organisation's. */
  templates(options?: { orgId?: string }): Promise<JobTemplate[]>;
  /**
   * Enqueues a job from a template: `payload` deep-merged over its defaults (then validated by the
   * task's schema), each option given winning over the template's; `metadata.template` names it.
   */
  enqueueFromTemplate(name: string, payload?: unknown, options?: EnqueueCallOptions): Promise<Job>;
  /** Counts by status and type, queue depth, durations, failures and throughput. */
  jobStats(options?: JobStatsOptions): Promise<JobStats>;
  /**
   * Yields the job now and after each change; ends once it has finished. The first call reads the
   * database's NOTIFY secret, which needs the owner's rights (the role that ran migrate).
   */
  watchJob(id: string, options?: { signal?: AbortSignal }): AsyncGenerator<Job, void, undefined>;
  /** The Kysely instance jobdeck reads with (typed for its tables). */
  readonly db: Kysely<Database>;
  close(): Promise<void>;
}

/**
 * Creates a jobdeck client.
 *
 * ```ts
 * const jobdeck = createJobdeck({ connectionString: process.env.DATABASE_URL });
 * await jobdeck.enqueueJob('import_file', { filename: 'a.csv' }, { ownerId: user.id });
 * ```
 */
export function createJobdeck(options: JobdeckOptions): Jobdeck {
  if (!options.pool && !options.connectionString)
    throw new Error('createJobdeck needs a connectionString or a pool');
  const settings: EnqueueSettings = options.webhookAllowInternal
    ? { webhookAllow: webhookAllowList(options.webhookAllowInternal) }
    : {};
  // The caller's pool, or one of the client's own; a LISTEN connection once watchJob needs it.
  const connections = openConnections(
    { client: true },
    {
      connectionString:
        options.connectionString ?? (options.pool?.options.connectionString as string | undefined),
      main: options.pool,
      listenConnectionString: options.listenConnectionString,
    },
  );
  const pool = connections.main;
  const db = createDb(pool);
  const getListener = () => {
    if (!connections.connectionString && !options.listenConnectionString)
      throw new Error('watchJob needs createJobdeck({ connectionString })');
    return connections.listener;
  };
  // Read once, on the first watchJob; a failed read is retried by the next one.
  let channels: Promise<JobChannels> | null = null;
  const getChannels = () =>
    (channels ??= loadJobChannels(pool).catch((error: unknown) => {
      channels = null;
      throw error;
    }));
  return {
    db,
    enqueueJob: (type, payload, opts = {}) => {
      const { tx, ...rest } = opts;
      return enqueueJobOn(tx ?? pool, type, payload, rest, settings);
    },
    enqueueJobs: (specs, opts = {}) => enqueueJobsOn(opts.tx ?? pool, specs, settings),
    enqueueGraph: (graph, opts = {}) => enqueueGraphOn(opts.tx ?? pool, graph, settings),
    enqueueBatch: (specs, opts = {}) => {
      const { tx, ...rest } = opts;
      return enqueueBatchOn(tx ?? pool, specs, rest, settings);
    },
    getBatch: (id) => getBatch(db, id),
    cancelBatch: (id, reason, opts = {}) => cancelBatchOn(opts.tx ?? pool, id, reason),
    async *watchBatch(id, opts = {}) {
      const listener = getListener();
      yield* watchBatch(db, listener, id, { ...opts, channels: await getChannels() });
    },
    getJob: (id) => getJob(db, id),
    cancelJob: (id, reason, opts = {}) => cancelJobOn(opts.tx ?? pool, id, reason),
    retryJob: (id, opts = {}) => {
      const { tx, ...rest } = opts;
      return retryJobOn(tx ?? pool, id, rest);
    },
    signal: (target, event, data, opts = {}) => signalJobOn(opts.tx ?? pool, target, event, data),
    setQueueConcurrency: (queue, maxRunning, opts = {}) =>
      setQueueConcurrencyOn(opts.tx ?? pool, queue, maxRunning),
    pause: (target, opts = {}) => {
      const { tx, ...rest } = opts;
      return pauseOn(tx ?? pool, target, rest);
    },
    resume: (target, opts = {}) => resumeOn(opts.tx ?? pool, target),
    pauses: () => listPausesOn(pool),
    setQueueRateLimit: (queue, maxStarts, period, opts = {}) =>
      setQueueRateLimitOn(opts.tx ?? pool, queue, maxStarts, period, opts.key),
    setQueueFairness: (queue, fairness, opts = {}) =>
      setQueueFairnessOn(opts.tx ?? pool, queue, fairness),
    setOrgWeight: (orgId, weight, opts = {}) => setOrgWeightOn(opts.tx ?? pool, orgId, weight),
    defineTemplate: (name, definition, opts = {}) =>
      setTemplateOn(opts.tx ?? pool, name, definition, settings),
    deleteTemplate: (name, opts = {}) => deleteTemplateOn(opts.tx ?? pool, name),
    templates: (opts) => listTemplatesOn(pool, opts),
    enqueueFromTemplate: (name, payload, opts = {}) => {
      const { tx, ...rest } = opts;
      return enqueueFromTemplateOn(tx ?? pool, name, payload, rest, settings);
    },
    jobStats: (opts) => jobStatsOn(pool, opts),
    listJobs: (opts) => listJobs(db, opts),
    activeJobs: (opts) => activeJobs(db, opts),
    getJobEvents: (id, opts) => getJobEvents(db, id, opts),
    getJobSteps: (id) => getJobSteps(db, id),
    async *watchJob(id, opts = {}) {
      const listener = getListener();
      yield* watchJob(db, listener, id, { ...opts, channels: await getChannels() });
    },
    async close() {
      await db.destroy();
      await connections.close();
    },
  };
}
