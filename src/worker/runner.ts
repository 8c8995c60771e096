import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { parseCrontab, type TaskList } from 'graphile-worker';
import type { Config } from '../config.ts';
import { openConnections, type Connections } from '../db/connections.ts';
import { loadJobChannels } from '../live/channels.ts';
import { createLogger, type Logger } from '../logger.ts';
import {
  registerTaskTypes,
  taskDefaults,
  taskSettings,
  type TaskRegistry,
} from '../jobs/registry.ts';
import { ActiveJobs } from './active.ts';
import { GraphileSupervisor, type GraphileSupervisorOptions } from './graphile-supervisor.ts';
import { startWorkerServices, type WorkerServices } from './services.ts';
import { Tracker } from './tracker.ts';
import { StartGate } from './start-data.ts';
import { wrapTask } from './wrap-task.ts';
import { setQueueConcurrencyOn } from '../jobs/limits.ts';

/** Options of {@link startWorker}. */
export interface WorkerOptions {
  connectionString: string;
  tasks: TaskRegistry;
  /** Graphile Worker's settings (GraphileSupervisorOptions) and the tracker's and services' own. */
  config: GraphileSupervisorOptions['config'] &
    Pick<
      Config,
      | 'flushIntervalMs'
      | 'markDelayMs'
      | 'defaultMaxAttempts'
      | 'maxPayloadBytes'
      | 'cancelGraceMs'
      | 'heartbeatIntervalMs'
      | 'rescueAfterMs'
      | 'orgConcurrency'
    > &
    Partial<
      Pick<
        Config,
        | 'queueConcurrency'
        | 'maxStepResultBytes'
        | 'databaseListenUrl'
        | 'historyAfterSeconds'
        | 'retentionSucceededDays'
        | 'retentionFailedDays'
      >
    >;
  /** Crontab text (Graphile Worker's format). Takes precedence over `crontabFile`. */
  crontab?: string;
  /** Path of a crontab file; a missing file means no schedules. */
  crontabFile?: string;
  logger?: Logger;
}

/** A running worker process's handle. */
export interface JobdeckWorker {
  /** This process's worker id, recorded on the jobs it runs. */
  readonly id: string;
  /**
   * Stops fetching and lets running jobs finish for up to JOBDECK_SHUTDOWN_TIMEOUT_MS; then their
   * signals abort and, once they stop (or their grace runs out), they go back to the queue without
   * spending an attempt. Flushes tracking writes and closes connections.
   */
  stop(): Promise<void>;
  /**
   * Resolves once `stop()` has finished. Graphile Worker stopping on its own (after a major
   * database error) does not end it: the worker starts a new Graphile Worker pool.
   */
  readonly promise: Promise<void>;
}

/** Reads a crontab file, checking that every line names a known task. */
export function readCrontab(file: string, tasks: TaskRegistry): string {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8');
  let items;
  try {
    items = parseCrontab(text);
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`, { cause: error });
  }
  for (const item of items) {
    if (!tasks.has(item.task)) {
      throw new Error(
        `${file}: schedule "${item.identifier}" names task "${item.task}", which is not in the tasks folder`,
      );
    }
  }
  return text;
}

/**
 * Runs Graphile Worker over the task registry, every task wrapped by the tracker. Registers the
 * task types first, so enqueue can check payloads against them. Opens the connections a worker
 * needs (src/db/connections.ts) and closes them when it stops.
 */
export async function startWorker(options: WorkerOptions): Promise<JobdeckWorker> {
  const logger = options.logger ?? createLogger(options.config.logLevel, 'worker');
  const connections = openConnections(
    { worker: { concurrency: options.config.concurrency } },
    {
      connectionString: options.connectionString,
      listenConnectionString: options.config.databaseListenUrl,
      logger,
    },
  );
  return runWorker(
    { ...options, logger },
    { connections, ownsConnections: true, taskTypesRegistered: false },
  );
}

/** What {@link runWorker} takes from the process around it. */
export interface WorkerSetup {
  /** The process's connections, planned with a worker part. */
  connections: Connections;
  /** Whether the worker closes them when it stops (it opened them itself). */
  ownsConnections: boolean;
  /** Whether the process has registered the task types already (`jobdeck start` / `worker`). */
  taskTypesRegistered: boolean;
}

/** {@link startWorker} on connections the process may share with other parts (`jobdeck start`). */
export async function runWorker(
  options: WorkerOptions,
  setup: WorkerSetup,
): Promise<JobdeckWorker> {
  const { config, tasks } = options;
  const logger = options.logger ?? createLogger(config.logLevel, 'worker');
  const id = newWorkerId();
  const crontab =
    options.crontab ?? (options.crontabFile ? readCrontab(options.crontabFile, tasks) : '');
  const { connections } = setup;
  const pool = connections.main;
  let graphile: GraphileSupervisor | undefined;
  try {
    if (!setup.taskTypesRegistered) await registerTaskTypes(pool, tasks, config);
    await storeOrgConcurrency(pool, config.orgConcurrency);
    for (const [queue, limit] of Object.entries(config.queueConcurrency ?? {}))
      await setQueueConcurrencyOn(pool, queue, limit);
    // Before any job starts: without the NOTIFY secret the worker could not hear cancels.
    const channels = await loadJobChannels(pool);
    const tracker = new Tracker(pool, {
      workerId: id,
      flushIntervalMs: config.flushIntervalMs,
      markDelayMs: config.markDelayMs,
      logger,
    });
    const active = new ActiveJobs();
    // Known before the first job starts: until then no start data is trusted.
    const gate = new StartGate(pool, logger, config.heartbeatIntervalMs);
    await gate.runOnce();
    const supervisor = (graphile = new GraphileSupervisor({
      pgPool: connections.graphileWorker,
      mainPool: pool,
      taskList: wrapTasks(tasks, { tracker, active, logger, config, gate }),
      crontab,
      config,
      logger,
    }));
    await supervisor.start();
    const services = await startWorkerServices({
      pool,
      listener: connections.listener,
      channels,
      workerId: id,
      active,
      logger,
      gate,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      rescueAfterMs: config.rescueAfterMs,
      concurrency: config.concurrency,
      taskTypes: [...tasks.keys()],
      poolId: () => supervisor.poolId,
      history: {
        afterSeconds: config.historyAfterSeconds ?? 600,
        succeededDays: config.retentionSucceededDays ?? 7,
        failedDays: config.retentionFailedDays ?? 30,
      },
    });
    logger.info(
      `worker ${id} running ${tasks.size} task types (concurrency ${config.concurrency})`,
    );
    const owned = setup.ownsConnections ? connections : null;
    return workerHandle(id, { supervisor, services, tracker, owned });
  } catch (error) {
    await graphile?.stop().catch(() => {});
    graphile?.detach();
    if (setup.ownsConnections) await connections.close();
    throw error;
  }
}

/** `<host>-<pid>-<random>`: recorded on the jobs the worker runs, and its workers row. */
function newWorkerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** JOBDECK_ORG_CONCURRENCY, when set, becomes the cap every worker applies. */
async function storeOrgConcurrency(pool: pg.Pool, value: number | undefined): Promise<void> {
  if (value === undefined) return;
  await pool.query(
    `insert into jobdeck_private.settings (name, value) values ('org_concurrency', to_jsonb($1::int))
     on conflict (name) do update set value = excluded.value, updated_at = now()
     where settings.value is distinct from excluded.value`,
    [value],
  );
}

/** Every task of the registry wrapped for Graphile Worker, with its checked settings. */
function wrapTasks(
  tasks: TaskRegistry,
  deps: {
    tracker: Tracker;
    active: ActiveJobs;
    logger: Logger;
    config: WorkerOptions['config'];
    gate: StartGate;
  },
): TaskList {
  const { tracker, active, logger, config, gate } = deps;
  const defaults = taskDefaults(config);
  const taskList: TaskList = {};
  for (const [type, def] of tasks) {
    taskList[type] = wrapTask(type, def, {
      tracker,
      logger,
      active,
      settings: taskSettings(def, defaults),
      finishBacklogLimit: Math.max(100, config.concurrency * 4),
      maxStepResultBytes: config.maxStepResultBytes,
      gate,
    });
  }
  return taskList;
}

/**
 * The handle of a started worker. Stopping: Graphile Worker stops taking jobs and lets running
 * ones finish, the tracker writes every outcome, the services stop (the worker's row goes), then
 * the connections close if the worker opened them.
 */
function workerHandle(
  id: string,
  parts: {
    supervisor: GraphileSupervisor;
    services: WorkerServices;
    tracker: Tracker;
    owned: Connections | null;
  },
): JobdeckWorker {
  const { supervisor, services, tracker, owned } = parts;
  let settle: () => void = () => {};
  const promise = new Promise<void>((resolve) => (settle = resolve));
  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      services.markStopping();
      try {
        await supervisor.stop();
      } finally {
        await tracker.close();
        await services.stop();
        await owned?.close();
        supervisor.detach();
        settle();
      }
    })());
  return { id, stop, promise };
}
