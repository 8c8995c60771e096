import cliProgress from 'cli-progress';
import type { Config } from '../config.ts';
import { openDatabase } from '../db/connect.ts';
import type { Job, JobStatus } from '../db/types.ts';
import { createJobdeck } from '../client.ts';
import { Priority, type PriorityName } from '../jobs/policy.ts';
import { UsageError } from './usage.ts';

interface Args {
  values: Record<string, unknown>;
  positionals: string[];
}

function intFlag(values: Record<string, unknown>, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !/^-?\d+$/.test(raw))
    throw new UsageError(`--${name} must be a whole number, got "${String(raw)}"`);
  return Number(raw);
}

export function stringFlag(values: Record<string, unknown>, name: string): string | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw === '') throw new UsageError(`--${name} needs a value`);
  return raw;
}

/** Opens the database (finding a running `jobdeck start`) and a client over it. */
async function withClient<T>(
  config: Config,
  fn: (jobdeck: ReturnType<typeof createJobdeck>) => Promise<T>,
): Promise<T> {
  const database = await openDatabase(config);
  const jobdeck = createJobdeck({ connectionString: database.url });
  try {
    return await fn(jobdeck);
  } finally {
    await jobdeck.close();
    await database.close();
  }
}

/** `jobdeck enqueue <type> [json]`: prints the new job's id (or the job as JSON with --json). */
export async function runEnqueue(config: Config, { values, positionals }: Args): Promise<number> {
  const [type, payloadText, ...extra] = positionals;
  if (!type)
    throw new UsageError(
      'enqueue needs a job type, e.g. jobdeck enqueue export_report \'{"reportType":"quotes","format":"csv"}\'',
    );
  if (extra.length > 0)
    throw new UsageError(
      `unexpected arguments: ${extra.join(' ')} (quote the JSON payload as one argument)`,
    );
  let payload: unknown = {};
  if (payloadText !== undefined) {
    try {
      payload = JSON.parse(payloadText);
    } catch (error) {
      throw new UsageError(`payload is not valid JSON: ${(error as Error).message}`);
    }
  }
  const runAt = stringFlag(values, 'run-at');
  if (runAt !== undefined && Number.isNaN(Date.parse(runAt)))
    throw new UsageError(`--run-at must be an ISO date, got "${runAt}"`);
  const priorityText = stringFlag(values, 'priority');
  let priority: number | undefined;
  if (priorityText !== undefined) {
    if (/^-?\d+$/.test(priorityText)) priority = Number(priorityText);
    else if (priorityText.toLowerCase() in Priority)
      priority = Priority[priorityText.toLowerCase() as PriorityName];
    else
      throw new UsageError(
        `--priority must be a whole number or one of ${Object.keys(Priority).join(', ')}, got "${priorityText}"`,
      );
  }
  const keyMode = stringFlag(values, 'key-mode');
  if (keyMode !== undefined && keyMode !== 'keep' && keyMode !== 'replace')
    throw new UsageError(`--key-mode must be keep or replace, got "${keyMode}"`);
  if (keyMode !== undefined && values.key === undefined)
    throw new UsageError('--key-mode needs --key');
  const options = {
    priority,
    keyMode: keyMode as 'keep' | 'replace' | undefined,
    maxAttempts: intFlag(values, 'max-attempts'),
    runAt,
    key: stringFlag(values, 'key'),
    queue: stringFlag(values, 'queue'),
    ownerId: stringFlag(values, 'owner'),
    orgId: stringFlag(values, 'org'),
  };
  const job = await withClient(config, (jobdeck) =>
    jobdeck.enqueueJob(
      type,
      payload,
      Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    ),
  );
  process.stdout.write(values.json ? `${JSON.stringify(job)}\n` : `${job.id}\n`);
  return 0;
}

const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'retrying'];

/** `jobdeck jobs`: a table (or JSON array) of jobs, newest first. */
export async function runJobs(config: Config, { values, positionals }: Args): Promise<number> {
  if (positionals.length > 0)
    throw new UsageError(`jobs takes no arguments, got: ${positionals.join(' ')}`);
  const status = stringFlag(values, 'status');
  if (status !== undefined && !STATUSES.includes(status))
    throw new UsageError(`--status must be one of ${STATUSES.join(', ')}`);
  if (values.active && status) throw new UsageError('use --active or --status, not both');
  const limit = intFlag(values, 'limit') ?? 50;
  if (limit < 1 || limit > 1000) throw new UsageError('--limit must be from 1 to 1000');
  const type = stringFlag(values, 'type');
  const owner = stringFlag(values, 'owner');
  const org = stringFlag(values, 'org');
  const jobs = await withClient(config, async (jobdeck) => {
    const filters = {
      ...(type !== undefined ? { type } : {}),
      ...(owner !== undefined ? { owner } : {}),
      ...(org !== undefined ? { org } : {}),
      limit,
    };
    if (values.active)
      return (await jobdeck.listJobs({ ...filters, status: ['queued', 'running', 'retrying'] }))
        .jobs;
    return (
      await jobdeck.listJobs({ ...filters, ...(status ? { status: status as JobStatus } : {}) })
    ).jobs;
  });
  if (values.json) {
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

/** `jobdeck watch <id>`: a live bar until the job finishes; the exit code tells how it ended. */
export async function runWatch(config: Config, { values, positionals }: Args): Promise<number> {
  const [id, ...extra] = positionals;
  if (!id || extra.length > 0) throw new UsageError('watch needs exactly one job id');
  return withClient(config, async (jobdeck) => {
    const interactive = !values.json && process.stderr.isTTY;
    const bar = interactive
      ? new cliProgress.SingleBar(
          {
            format: '{type} [{bar}] {percentage}% | {status} {step}',
            hideCursor: true,
            stream: process.stderr,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
    let last: Job | null = null;
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once('SIGINT', onSignal);
    try {
      for await (const job of jobdeck.watchJob(id, { signal: abort.signal })) {
        last = job;
        if (values.json) process.stdout.write(`${JSON.stringify(job)}\n`);
        else if (bar) {
          const payload = { type: job.type, status: job.status, step: job.current_step ?? '' };
          if (!bar.isActive) bar.start(100, job.progress, payload);
          else bar.update(job.progress, payload);
        } else process.stderr.write(`${job.type} ${describe(job)}\n`);
      }
    } finally {
      bar?.stop();
      process.off('SIGINT', onSignal);
    }
    if (!last) return 1;
    if (!values.json) {
      if (last.status === 'succeeded')
        process.stdout.write(`${JSON.stringify(last.result, null, 2)}\n`);
      else if (last.status === 'failed') {
        const error = last.errors[last.errors.length - 1];
        process.stderr.write(`job failed: ${error?.message ?? 'unknown error'}\n`);
      } else if (abort.signal.aborted)
        process.stderr.write(`stopped watching; the job is ${last.status}\n`);
      else process.stderr.write(`job ${last.status}\n`);
    }
    return last.status === 'succeeded' ? 0 : 1;
  });
}

function oneJobId(command: string, positionals: string[]): string {
  const [id, ...extra] = positionals;
  if (!id) throw new UsageError(`${command} needs a job id, e.g. jobdeck ${command} <id>`);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  return id;
}

/**
 * `jobdeck cancel <id> [--reason r] [--wait]`: cancels a job. A running job's cancel is a request
 * its worker acts on; with --wait the command waits until the job has stopped.
 */
export async function runCancel(config: Config, { values, positionals }: Args): Promise<number> {
  const id = oneJobId('cancel', positionals);
  const reason = stringFlag(values, 'reason');
  const job = await withClient(config, async (jobdeck) => {
    const cancelled = await jobdeck.cancelJob(id, reason ?? null);
    if (!values.wait || cancelled.status !== 'running') return cancelled;
    let last = cancelled;
    for await (const current of jobdeck.watchJob(id)) last = current;
    return last;
  });
  if (values.json) process.stdout.write(`${JSON.stringify(job)}\n`);
  else if (job.status === 'running')
    process.stdout.write(`cancel requested: job ${job.id} stops on its worker shortly\n`);
  else process.stdout.write(`job ${job.id} is ${job.status}\n`);
  return 0;
}

/** `jobdeck retry <id>`: runs a failed or cancelled job again with a fresh attempt budget. */
export async function runRetry(config: Config, { values, positionals }: Args): Promise<number> {
  const id = oneJobId('retry', positionals);
  const job = await withClient(config, (jobdeck) => jobdeck.retryJob(id));
  process.stdout.write(
    values.json ? `${JSON.stringify(job)}\n` : `job ${job.id} is queued again\n`,
  );
  return 0;
}

const SINCE = /^(\d+)(m|h|d)$/;

/** `jobdeck stats [--since 1h|ISO] [--type t] [--json]`: queue and job statistics. */
export async function runStats(config: Config, { values, positionals }: Args): Promise<number> {
  if (positionals.length > 0)
    throw new UsageError(`stats takes no arguments, got: ${positionals.join(' ')}`);
  const sinceText = stringFlag(values, 'since') ?? '24h';
  let since: Date;
  const rel = SINCE.exec(sinceText);
  if (rel) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 'm' | 'h' | 'd'];
    since = new Date(Date.now() - Number(rel[1]) * unit);
  } else if (!Number.isNaN(Date.parse(sinceText))) {
    since = new Date(sinceText);
  } else {
    throw new UsageError(`--since must be like 30m, 6h, 7d or an ISO date, got "${sinceText}"`);
  }
  const type = stringFlag(values, 'type');
  const stats = await withClient(config, (jobdeck) =>
    jobdeck.jobStats({ since, ...(type !== undefined ? { type } : {}) }),
  );
  if (values.json) {
    process.stdout.write(`${JSON.stringify(stats)}\n`);
    return 0;
  }
  const s = stats.byStatus;
  const lines = [
    `since ${new Date(stats.since).toISOString()}${stats.type ? ` (type ${stats.type})` : ''}`,
    `now:      ${s.queued} queued, ${s.running} running, ${s.retrying} retrying`,
    `finished: ${s.succeeded} succeeded, ${s.failed} failed, ${s.cancelled} cancelled (${stats.throughput.perMinute}/min)`,
    `queue:    ${stats.queue.ready} ready, ${stats.queue.scheduled} scheduled, ${stats.queue.held} held` +
      (stats.queue.oldestReadyAgeMs === null
        ? ''
        : `; oldest ready for ${(stats.queue.oldestReadyAgeMs / 1000).toFixed(1)} s`),
  ];
  if (stats.byType.length > 0) {
    lines.push('', 'TYPE                      QUEUED RUNNING   DONE FAILED    P50 ms    P95 ms');
    for (const t of stats.byType) {
      lines.push(
        `${t.type.padEnd(24).slice(0, 24)} ${String(t.queued + t.retrying).padStart(7)} ${String(t.running).padStart(7)} ${String(t.succeeded).padStart(6)} ${String(t.failed).padStart(6)} ${String(t.p50Ms ?? '-').padStart(9)} ${String(t.p95Ms ?? '-').padStart(9)}`,
      );
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
