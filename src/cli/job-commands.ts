import type { Config } from '../config.ts';
import { openDatabase } from '../db/connect.ts';
import { migrate } from '../db/migrate.ts';
import { createPool } from '../db/pool.ts';
import type { Job } from '../db/types.ts';
import { createJobdeck } from '../client.ts';
import { ACTIVE_STATUSES } from '../jobs/states.ts';
import type { CommandLine } from './command-line.ts';
import { follow } from './follow.ts';
import { BatchNotFoundError, JobNotFoundError } from '../errors.ts';

/** The parsed command line of one command. */
type Command<C extends CommandLine['command']> = Extract<CommandLine, { command: C }>;

/**
 * Opens the database (finding a running `jobdeck start`) and a client over it (also for pause-commands.ts). The embedded
 * database is migrated first (at once, when a `jobdeck start` is migrating it too: they take
 * turns), so a command run before or beside the first `npm start` finds jobdeck's tables; a
 * database of DATABASE_URL is migrated by `jobdeck migrate` only.
 */
export async function withClient<T>(
  config: Config,
  fn: (jobdeck: ReturnType<typeof createJobdeck>) => Promise<T>,
): Promise<T> {
  const database = await openDatabase(config);
  if (database.source !== 'DATABASE_URL') {
    const pool = createPool(database.url, { max: 2, applicationName: 'jobdeck-migrate' });
    try {
      await migrate(pool);
    } catch (error) {
      await database.close();
      throw error;
    } finally {
      await pool.end();
    }
  }
  const jobdeck = createJobdeck({
    connectionString: database.url,
    ...(config.databaseListenUrl ? { listenConnectionString: config.databaseListenUrl } : {}),
  });
  try {
    return await fn(jobdeck);
  } finally {
    await jobdeck.close();
    await database.close();
  }
}

/** `jobdeck enqueue <type> [json]` (or `--template <name> [json]`): prints the new job's id (or the job as JSON with --json). */
export async function runEnqueue(config: Config, command: Command<'enqueue'>): Promise<number> {
  const job = await withClient(config, (jobdeck) =>
    command.template !== undefined
      ? jobdeck.enqueueFromTemplate(command.template, command.payload, command.options)
      : jobdeck.enqueueJob(command.type, command.payload, command.options),
  );
  process.stdout.write(command.json ? `${JSON.stringify(job)}\n` : `${job.id}\n`);
  return 0;
}

/** `jobdeck jobs`: a table (or JSON array) of jobs, newest first. */
export async function runJobs(config: Config, command: Command<'jobs'>): Promise<number> {
  const jobs = await withClient(config, async (jobdeck) => {
    const filters = {
      ...(command.type !== undefined ? { type: command.type } : {}),
      ...(command.owner !== undefined ? { owner: command.owner } : {}),
      ...(command.org !== undefined ? { org: command.org } : {}),
      limit: command.limit,
    };
    if (command.active)
      return (await jobdeck.listJobs({ ...filters, status: ACTIVE_STATUSES })).jobs;
    return (
      await jobdeck.listJobs({ ...filters, ...(command.status ? { status: command.status } : {}) })
    ).jobs;
  });
  if (command.json) {
    process.stdout.write(`${JSON.stringify(jobs)}\n`);
    return 0;
  }
  if (jobs.length === 0) {
    process.stdout.write('no jobs\n');
    return 0;
  }
  const rows = jobs.map((job) => [
    job.id,
    job.type,
    job.status,
    `${job.progress}%`,
    job.current_step ?? '',
    job.created_at.toISOString(),
  ]);
  const header = ['ID', 'TYPE', 'STATUS', 'PROGRESS', 'STEP', 'CREATED'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows])
    process.stdout.write(
      `${row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
  return 0;
}

function describe(job: Job): string {
  const steps = job.total_steps ? ` (${job.completed_steps}/${job.total_steps})` : '';
  return `${job.status} ${job.progress}%${job.current_step ? ` ${job.current_step}` : ''}${steps}`;
}

/** Whether `id` names a batch rather than a job. */
async function isBatchId(jobdeck: ReturnType<typeof createJobdeck>, id: string): Promise<boolean> {
  try {
    await jobdeck.getJob(id);
    return false;
  } catch (error) {
    if (!(error instanceof JobNotFoundError)) throw error;
  }
  return jobdeck.getBatch(id).then(
    () => true,
    (error: unknown) => {
      if (error instanceof BatchNotFoundError) return false;
      throw error;
    },
  );
}

/** `jobdeck watch <id>`: a live bar until the job finishes; the exit code tells how it ended. */
export async function runWatch(config: Config, command: Command<'watch'>): Promise<number> {
  const { id, json } = command;
  return withClient(config, async (jobdeck) => {
    // A batch's id is no job's: watch the batch when there is no such job but such a batch.
    if (await isBatchId(jobdeck, id)) {
      const { watchBatchLive } = await import('./batch-commands.ts');
      return watchBatchLive(jobdeck, id, json);
    }
    const { last, interrupted } = await follow(
      (signal) => jobdeck.watchJob(id, { signal }),
      {
        format: '{type} [{bar}] {percentage}% | {status} {step}',
        bar: (job) => ({
          total: 100,
          value: job.progress,
          payload: { type: job.type, status: job.status, step: job.current_step ?? '' },
        }),
        line: (job) => `${job.type} ${describe(job)}`,
      },
      json,
    );
    if (!last) return 1;
    if (!json) {
      if (last.status === 'succeeded')
        process.stdout.write(`${JSON.stringify(last.result, null, 2)}\n`);
      else if (last.status === 'failed') {
        const error = last.errors[last.errors.length - 1];
        process.stderr.write(`job failed: ${error?.message ?? 'unknown error'}\n`);
      } else if (interrupted) process.stderr.write(`stopped watching; the job is ${last.status}\n`);
      else process.stderr.write(`job ${last.status}\n`);
    }
    return last.status === 'succeeded' ? 0 : 1;
  });
}

/**
 * `jobdeck cancel <id> [--reason r] [--wait]`: cancels a job. A running job's cancel is a request
 * its worker acts on; with --wait the command waits until the job has stopped.
 */
export async function runCancel(config: Config, command: Command<'cancel'>): Promise<number> {
  const { id, reason } = command;
  const job = await withClient(config, async (jobdeck) => {
    const cancelled = await jobdeck.cancelJob(id, reason);
    if (!command.wait || cancelled.status !== 'running') return cancelled;
    let last = cancelled;
    for await (const current of jobdeck.watchJob(id)) last = current;
    return last;
  });
  if (command.json) process.stdout.write(`${JSON.stringify(job)}\n`);
  else if (job.status === 'running')
    process.stdout.write(`cancel requested: job ${job.id} stops on its worker shortly\n`);
  else process.stdout.write(`job ${job.id} is ${job.status}\n`);
  return 0;
}

/** `jobdeck retry <id>`: runs a failed or cancelled job again with a fresh attempt budget. */
export async function runRetry(config: Config, command: Command<'retry'>): Promise<number> {
  const job = await withClient(config, (jobdeck) => jobdeck.retryJob(command.id));
  process.stdout.write(
    command.json ? `${JSON.stringify(job)}\n` : `job ${job.id} is queued again\n`,
  );
  return 0;
}

/**
 * `jobdeck signal <job-id|key> <event> [json-data]`: sends a signal to a job; its
 * `ctx.waitFor(event)` returns the data (the job runs again at once when it is parked on it).
 */
export async function runSignal(config: Config, command: Command<'signal'>): Promise<number> {
  const { target, event, data } = command;
  const id = await withClient(config, (jobdeck) => jobdeck.signal(target, event, data));
  process.stdout.write(
    command.json
      ? `${JSON.stringify({ jobId: id, event })}\n`
      : `signal ${event} sent to job ${id}\n`,
  );
  return 0;
}

/** " (3 paused, 2 rate_limit)": the non-zero counts of waiting jobs by reason, or "". */
function describeReasons(byReason: Record<string, number | undefined>): string {
  const parts = Object.entries(byReason)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([reason, n]) => `${n} ${reason}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** `jobdeck stats [--since 1h|ISO] [--type t] [--json]`: queue and job statistics. */
export async function runStats(config: Config, command: Command<'stats'>): Promise<number> {
  const { since, type } = command;
  const stats = await withClient(config, (jobdeck) =>
    jobdeck.jobStats({ since, ...(type !== undefined ? { type } : {}) }),
  );
  if (command.json) {
    process.stdout.write(`${JSON.stringify(stats)}\n`);
    return 0;
  }
  const s = stats.byStatus;
  const lines = [
    `since ${new Date(stats.since).toISOString()}${stats.type ? ` (type ${stats.type})` : ''}`,
    `now:      ${s.waiting} waiting, ${s.queued} queued, ${s.running} running, ${s.retrying} retrying`,
    `finished: ${s.succeeded} succeeded, ${s.failed} failed, ${s.cancelled} cancelled (${stats.throughput.perMinute}/min)`,
    `queue:    ${stats.queue.ready} ready, ${stats.queue.scheduled} scheduled, ${stats.queue.held} held` +
      (stats.queue.paused > 0 ? ` (${stats.queue.paused} paused)` : '') +
      (stats.queue.oldestReadyAgeMs === null
        ? ''
        : `; oldest ready for ${(stats.queue.oldestReadyAgeMs / 1000).toFixed(1)} s`),
    `waiting:  ${stats.waiting.dependencies} for dependencies, ${stats.waiting.concurrencyLimit} held by a concurrency limit, ${stats.waiting.rateLimit} rate limited` +
      describeReasons(stats.waiting.byReason),
  ];
  const flowQueues = stats.byQueue.filter(
    (q) =>
      q.concurrencyLimit !== null ||
      q.rateLimit !== null ||
      q.fairness !== null ||
      q.paused !== null ||
      Object.keys(q.heldBy).length > 0,
  );
  if (flowQueues.length > 0) {
    lines.push(
      '',
      'QUEUE                     QUEUED RUNNING  LIMIT  RATE          FAIRNESS  WAITING',
    );
    for (const q of flowQueues) {
      const rate = q.rateLimit ? `${q.rateLimit.maxStarts}/${q.rateLimit.periodMs} ms` : '-';
      lines.push(
        `${(q.queue ?? '(default)').padEnd(24).slice(0, 24)} ${String(q.queued + q.retrying).padStart(7)} ${String(q.running).padStart(7)} ${String(q.concurrencyLimit ?? '-').padStart(6)}  ${rate.padEnd(12)}  ${(q.fairness ?? '-').padEnd(8)}  ${describeReasons(q.heldBy).replace(/^ \(|\)$/g, '') || '-'}${q.paused ? ` [${q.paused}]` : ''}`,
      );
    }
  }
  if (stats.byType.length > 0) {
    lines.push(
      '',
      'TYPE                      QUEUED RUNNING   DONE FAILED    P50 ms    P95 ms  PEAK MB  CPU ms',
    );
    for (const t of stats.byType) {
      lines.push(
        `${t.type.padEnd(24).slice(0, 24)} ${String(t.queued + t.retrying).padStart(7)} ${String(t.running).padStart(7)} ${String(t.succeeded).padStart(6)} ${String(t.failed).padStart(6)} ${String(t.p50Ms ?? '-').padStart(9)} ${String(t.p95Ms ?? '-').padStart(9)} ${String(t.peakRssMbMax ?? '-').padStart(8)} ${String(t.cpuMsAvg ?? '-').padStart(7)}`,
      );
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** The commands that work on jobs through a client. */
export type JobCommand = Command<
  'enqueue' | 'jobs' | 'watch' | 'cancel' | 'retry' | 'signal' | 'stats'
>;

const RUNNERS: {
  [C in JobCommand['command']]: (config: Config, command: Command<C>) => Promise<number>;
} = {
  enqueue: runEnqueue,
  jobs: runJobs,
  watch: runWatch,
  cancel: runCancel,
  retry: runRetry,
  signal: runSignal,
  stats: runStats,
};

/** Runs one of the job commands. */
export function runJobCommand(config: Config, command: JobCommand): Promise<number> {
  // Each runner takes its own command; the table's type ties the two together.
  const runner = RUNNERS[command.command] as (
    config: Config,
    command: JobCommand,
  ) => Promise<number>;
  return runner(config, command);
}
