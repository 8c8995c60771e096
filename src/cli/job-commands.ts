import cliProgress from 'cli-progress';
import type { Config } from '../config.ts';
import { openDatabase } from '../db/connect.ts';
import type { Job, JobStatus } from '../db/types.ts';
import { createJobdeck } from '../client.ts';
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

function stringFlag(values: Record<string, unknown>, name: string): string | undefined {
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
  const options = {
    priority: intFlag(values, 'priority'),
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
