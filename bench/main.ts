/**
 * `npm run bench`: every scenario, one after another, on one PostgreSQL (embedded, or
 * `DATABASE_URL`), each in a fresh database, with the same worker settings (concurrency 50, local
 * queue 500, completion batching delay 0):
 *
 * - drain of N no-op jobs (default 50,000; `-- --jobs N`) queued beforehand (not timed), through
 *   raw Graphile Worker, jobdeck with full tracking (queued → running → one progress update →
 *   succeeded) and pg-boss (batches of 100, 4 fetch loops, burst fetching); each worker runs alone
 *   in a child process (bench/drain-child.ts), timed from its start until every job is stored as
 *   done. jobs/s and the ratios jobdeck/raw and jobdeck/pg-boss; and jobdeck again with a limit
 *   configured that never binds (a concurrency cap of 100,000 on the task type, bench/drain.ts
 *   DRAIN_LIMIT), so every start takes the slow path: the cost of having a limit, side by side;
 * - enqueue rate: single `enqueueJob` calls and bulk `enqueueJobs` (1,000 per call);
 * - add → start latency with an idle worker, jobdeck and raw Graphile Worker (p50/p99);
 * - progress → GraphQL subscription client latency (p50/p99): 100 jobs reporting progress 10×/s
 *   each (≈1k updates/s), a `myJobsChanged` subscriber, server, worker and client in this process
 *   (see bench/progress.ts for how latency is defined);
 * - `activeJobs` (GraphQL) and `GET /api/v2/jobs/active` latency (p50/p95) with 1M finished jobs
 *   in the history and 100 active jobs of the caller;
 * - the jobdeck worker's peak RSS: that of the child process that ran only the jobdeck drain;
 * - `jobdeck jobs --json` as a fresh process of the built CLI (dist/, built first when the sources
 *   are newer) on the active-jobs database, next to `node -e 0`: medians of 5 starts each.
 *
 * The drains run in rounds (`-- --rounds N`, 3 by default, 1 with `--quick`): raw, jobdeck and
 * pg-boss, then again; each drain figure is the median of its rounds and the peak RSS the highest.
 * A fixed CPU loop is timed at the start and at the end (settings.cpu_reference_ms_*), so runs on
 * machines of different or drifting speed can be compared.
 *
 * Prints the results and each target met or missed, and writes `bench/results/latest.json` (shape:
 * bench/results.ts). `-- --quick` runs smaller counts (5,000 jobs, 100k history rows, 3 s of
 * progress) with the same JSON keys, in well under 2 minutes.
 */
import './graphile-env.ts';
import { mkdir, mkdtemp, chmod, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import {
  DRAIN_LIMIT,
  drainInChild,
  PGBOSS_WORK_OPTIONS,
  queueJobdeck,
  queuePgBoss,
  queueRaw,
  type DrainKind,
  type DrainResult,
} from './drain.ts';
import type { MachineCpu } from './cpu.ts';
import { addToStartLatency, singleEnqueueRate, type WorkerSettings } from './latency.ts';
import { progressToSubscriberLatency } from './progress.ts';
import { ACTIVE_JOBS, activeJobsLatency } from './reads.ts';
import { buildResults, targetRows, type CpuPerJobTotal } from './results.ts';
import { BUILT_DRAIN_CHILD, cliStartTimes, ensureBuilt, ensureDrainChildBuilt } from './cli.ts';
import { median } from './stats.ts';

const USAGE = 'usage: npm run bench -- [--quick] [--jobs N] [--rounds N]';
/** A bad flag: the message and the usage line, exit code 2, no stack trace. */
function usageError(message: string): never {
  console.error(`bench: ${message}\n${USAGE}`);
  process.exit(2);
}
let parsed;
try {
  parsed = parseArgs({
    options: {
      quick: { type: 'boolean' },
      jobs: { type: 'string' },
      rounds: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
} catch (error) {
  usageError((error as Error).message);
}
const { values } = parsed;
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const quick = values.quick ?? false;
const N = values.jobs ? Number(values.jobs) : quick ? 5000 : 50_000;
if (!Number.isInteger(N) || N < 1)
  usageError(`--jobs must be a whole number >= 1, got ${values.jobs}`);
// The drains run in rounds (raw, jobdeck, pg-boss, then again), and each figure is the median of
// its rounds: a VM's speed drifts within minutes, and interleaving spreads the drift evenly.
const ROUNDS = values.rounds ? Number(values.rounds) : quick ? 1 : 3;
if (!Number.isInteger(ROUNDS) || ROUNDS < 1)
  usageError(`--rounds must be a whole number >= 1, got ${values.rounds}`);
const WORKER: WorkerSettings = { concurrency: 50, localQueue: 500 };
const LATENCY_SAMPLES = quick ? 50 : 200;
const HISTORY_ROWS = quick ? 100_000 : 10_000_000;
const PROGRESS = { jobs: 100, updatesPerJob: quick ? 30 : 99, intervalMs: 100 };
const CLI_RUNS = 5;

const config = loadConfig();
let dataDir: string | null = null;
let stopEmbedded = async () => {};
let adminUrl = config.databaseUrl;
if (!adminUrl) {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'jobdeck-bench-'));
  await chmod(dataDir, 0o755);
  const embedded = await startEmbeddedPostgres({
    dataDir,
    database: 'postgres',
    settings: { max_connections: 300 },
  });
  adminUrl = embedded.url;
  stopEmbedded = () => embedded.stop();
}

async function adminQuery<R extends pg.QueryResultRow>(sql: string): Promise<R[]> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    return (await admin.query<R>(sql)).rows;
  } finally {
    await admin.end();
  }
}

async function freshDatabase(name: string): Promise<string> {
  await adminQuery(`drop database if exists ${name} with (force)`);
  await adminQuery(`create database ${name}`);
  const url = new URL(adminUrl!);
  url.pathname = `/${name}`;
  return url.toString();
}

const step = (what: string) => console.log(`bench: ${what}…`);

/** How long a fixed CPU loop takes here: compares machines, and one machine's speed over time. */
function cpuReferenceMs(): number {
  const started = performance.now();
  let x = 0;
  for (let i = 0; i < 100_000_000; i++) x += i % 7;
  if (x < 0) console.log(x); // keeps the loop from being optimised away
  return Math.round(performance.now() - started);
}

/**
 * One drain in its child process (bench/drain-child.ts, compiled: BUILT_DRAIN_CHILD, times it and
 * reads its CPU cost).
 */
const drain = (kind: DrainKind, url: string): Promise<DrainResult> =>
  drainInChild(kind, url, N, WORKER, BUILT_DRAIN_CHILD);

try {
  // Before anything long: a build that fails should stop the run at its start.
  const built = ensureBuilt();
  if (built) step('built dist/ (the sources were newer), for the CLI timing');
  if (ensureDrainChildBuilt())
    step('built the drain child (.jobdeck/bench-build/, the sources were newer)');
  const cpuReferenceBefore = cpuReferenceMs();
  const rounds: {
    raw: DrainResult;
    tracked: DrainResult;
    limited: DrainResult;
    pgBoss: DrainResult;
    enqueueBulk: number;
  }[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const of = ROUNDS > 1 ? ` (round ${round} of ${ROUNDS})` : '';
    step(`raw Graphile Worker drain of ${N} jobs${of}`);
    const rawUrl = await freshDatabase('bench_raw');
    await queueRaw(rawUrl, N);
    const raw = await drain('raw', rawUrl);

    step(`jobdeck drain of ${N} jobs${of}`);
    const jobdeckUrl = await freshDatabase('bench_jobdeck');
    const enqueueBulk = await queueJobdeck(jobdeckUrl, N);
    const tracked = await drain('jobdeck', jobdeckUrl);

    step(
      `jobdeck drain of ${N} jobs with a limit that never binds (maxConcurrent ${DRAIN_LIMIT.maxConcurrent})${of}`,
    );
    const limitedUrl = await freshDatabase('bench_jobdeck_limited');
    await queueJobdeck(limitedUrl, N, true);
    const limited = await drain('jobdeck_limited', limitedUrl);

    step(`pg-boss drain of ${N} jobs${of}`);
    const pgBossUrl = await freshDatabase('bench_pgboss');
    await queuePgBoss(pgBossUrl, N);
    const pgBoss = await drain('pgboss', pgBossUrl);
    rounds.push({ raw, tracked, limited, pgBoss, enqueueBulk });
  }
  // The whole machine's CPU per job (median of rounds, user and kernel apart); null if not read.
  const machinePerJob = (machine: (MachineCpu | null)[]) =>
    machine.includes(null)
      ? null
      : {
          user: (median(machine.map((m) => m!.user)) * 1e6) / N,
          system: (median(machine.map((m) => m!.system)) * 1e6) / N,
        };
  // Each figure is its median over the rounds; the peak RSS is the highest of them.
  const summary = (pick: (r: (typeof rounds)[number]) => DrainResult) => {
    const postgres = rounds.map((r) => pick(r).postgresCpuSeconds);
    return {
      jobsPerSec: median(rounds.map((r) => pick(r).jobsPerSec)),
      peakRssMb: Math.max(...rounds.map((r) => pick(r).peakRssMb)),
      cpu: {
        worker: (median(rounds.map((r) => pick(r).workerCpuSeconds)) * 1e6) / N,
        postgres: postgres.includes(null) ? null : (median(postgres as number[]) * 1e6) / N,
        // The median of each round's sum (not the sum of the medians, which may mix rounds).
        total: postgres.includes(null)
          ? null
          : (median(rounds.map((r) => pick(r).workerCpuSeconds + pick(r).postgresCpuSeconds!)) *
              1e6) /
            N,
        machine: machinePerJob(rounds.map((r) => pick(r).machineCpuSeconds)),
      },
      all: rounds.map((r) => Math.round(pick(r).jobsPerSec)).join(', '),
    };
  };
  const raw = summary((r) => r.raw);
  const tracked = summary((r) => r.tracked);
  const limited = summary((r) => r.limited);
  const pgBoss = summary((r) => r.pgBoss);
  const enqueueBulk = median(rounds.map((r) => r.enqueueBulk));

  step('single enqueue rate');
  const singleCount = Math.min(5000, Math.max(100, Math.round(N / 10)));
  const single = await singleEnqueueRate(await freshDatabase('bench_single'), singleCount);

  step('add → start latency');
  const latency = await addToStartLatency(
    await freshDatabase('bench_latency'),
    await freshDatabase('bench_latency_raw'),
    config,
    LATENCY_SAMPLES,
    WORKER,
  );

  step(`progress → subscriber latency (${PROGRESS.jobs} jobs × 10 updates/s)`);
  const progress = await progressToSubscriberLatency(
    await freshDatabase('bench_progress'),
    config,
    { ...PROGRESS, selection: 'event' },
    WORKER,
  );
  step("progress → subscriber latency with the dashboard's selection (a re-read per event)");
  const progressDashboard = await progressToSubscriberLatency(
    await freshDatabase('bench_progress_dashboard'),
    config,
    { ...PROGRESS, selection: 'dashboard' },
    WORKER,
  );

  step(`active-jobs reads with ${HISTORY_ROWS.toLocaleString('en-US')} history rows`);
  const readsUrl = await freshDatabase('bench_reads');
  const reads = await activeJobsLatency(readsUrl, HISTORY_ROWS);

  step('jobdeck jobs --json as a fresh process (the built CLI), and node -e 0');
  const cli = await cliStartTimes(readsUrl, CLI_RUNS);

  const [version] = await adminQuery<{ server_version: string }>('show server_version');
  const pgBossPackage = JSON.parse(
    await readFile(new URL('../node_modules/pg-boss/package.json', import.meta.url), 'utf8'),
  ) as { version: string };
  const results = buildResults({
    drain: { raw: raw.jobsPerSec, jobdeck: tracked.jobsPerSec, pgBoss: pgBoss.jobsPerSec },
    drainLimited: {
      jobsPerSec: limited.jobsPerSec,
      limit: `maxConcurrent ${DRAIN_LIMIT.maxConcurrent} on the task type (never binds)`,
    },
    enqueue: { single, bulk: enqueueBulk },
    addToStart: latency,
    addToStartSplit: latency.split,
    cpuPerJob: { raw: raw.cpu, jobdeck: tracked.cpu, pgBoss: pgBoss.cpu },
    progressToSubscriber: progress,
    progressToSubscriberDashboard: progressDashboard,
    activeJobs: { graphql: reads.graphql, rest: reads.rest, historyRows: HISTORY_ROWS },
    workerPeakRssMb: tracked.peakRssMb,
    cliStart: { jobsMs: cli.jobsMs, nodeMs: cli.nodeMs },
    settings: {
      run_at: new Date().toISOString(),
      quick,
      database: config.databaseUrl ? 'DATABASE_URL' : 'embedded',
      jobs: N,
      concurrency: WORKER.concurrency,
      local_queue: WORKER.localQueue,
      complete_batch_delay_ms: 0,
      flush_interval_ms: config.flushIntervalMs,
      drain_process: 'each drain runs its worker alone in a child process (bench/drain-child.ts)',
      drain_rounds: ROUNDS,
      drain_summary: 'median jobs/s of the rounds; peak RSS: the highest of the rounds',
      drain_raw_rounds_jobs_per_sec: raw.all,
      drain_jobdeck_rounds_jobs_per_sec: tracked.all,
      drain_jobdeck_with_limit_rounds_jobs_per_sec: limited.all,
      drain_pgboss_rounds_jobs_per_sec: pgBoss.all,
      cpu_per_job:
        "median over the rounds, per job, of the CPU time the worker's process and (where PostgreSQL runs on this machine) the server's processes used while the drain was timed",
      cpu_reference_ms_start: cpuReferenceBefore,
      cpu_reference_ms_end: cpuReferenceMs(),
      cpu_reference:
        'ms a fixed loop of 1e8 steps took at the start and at the end of the run (machine speed)',
      worker_peak_rss:
        'peak RSS (maxRSS) of the child process that ran only the jobdeck worker for the drain',
      pg_boss_version: pgBossPackage.version,
      pg_boss_batch_size: PGBOSS_WORK_OPTIONS.batchSize,
      pg_boss_local_concurrency: PGBOSS_WORK_OPTIONS.localConcurrency,
      pg_boss_burst_when_batch_full: PGBOSS_WORK_OPTIONS.burstWhenBatchFull,
      pg_boss_polling_interval_s: PGBOSS_WORK_OPTIONS.pollingIntervalSeconds,
      enqueue_single_jobs: singleCount,
      enqueue_bulk_batch: 1000,
      latency_samples: LATENCY_SAMPLES,
      progress_jobs: PROGRESS.jobs,
      progress_updates_per_job: PROGRESS.updatesPerJob,
      progress_interval_ms: PROGRESS.intervalMs,
      progress_worker_concurrency: Math.max(WORKER.concurrency, PROGRESS.jobs),
      progress_updates_sent: progress.updates,
      progress_updates_per_sec: progress.updatesPerSec,
      progress_events_received: progress.events,
      progress_undelivered: progress.undelivered,
      progress_process: 'server, worker and graphql-ws client in the bench process',
      progress_selection: 'myJobsChanged { kind id status progress }',
      progress_dashboard_selection:
        'myJobsChanged { kind id status progress job { id status progress currentStep etaAt } }',
      active_jobs: ACTIVE_JOBS,
      cli_runs: cli.runs,
      cli_command: `node dist/src/cli/main.js jobs --json on the active-jobs database (${HISTORY_ROWS} history rows); median of ${cli.runs} fresh processes after one not counted, in turn with node -e 0`,
      cli_dist: built ? 'built by this run (sources were newer)' : 'up to date with the sources',
    },
    machine: {
      cores: os.cpus().length,
      pgVersion: version?.server_version ?? 'unknown',
      nodeVersion: process.version,
    },
  });

  const { throughput, enqueue } = results;
  const cpu = results.cpu_per_job_us!;
  const drainRow = (
    jobsPerSec: number,
    run: { peakRssMb: number; all: string },
    perJob: {
      worker: number | null;
      postgres: number | null;
      machine?: { user: number; system: number } | null;
    },
  ) => ({
    'jobs/s': jobsPerSec,
    'worker peak RSS MB': run.peakRssMb,
    'CPU µs/job, worker': perJob.worker,
    'CPU µs/job, PostgreSQL': perJob.postgres ?? 'not read',
    'machine CPU µs/job, user + kernel': perJob.machine
      ? `${Math.round(perJob.machine.user)} + ${Math.round(perJob.machine.system)}`
      : 'not read',
    'rounds (jobs/s)': run.all,
  });
  console.table({
    'raw Graphile Worker (drain)': drainRow(
      throughput.raw_graphile_worker.jobs_per_sec,
      raw,
      cpu.raw_graphile_worker,
    ),
    'jobdeck, fully tracked (drain)': drainRow(
      throughput.jobdeck.jobs_per_sec,
      tracked,
      cpu.jobdeck,
    ),
    [`jobdeck, with a limit (maxConcurrent ${DRAIN_LIMIT.maxConcurrent}, never binds)`]: drainRow(
      throughput.jobdeck_with_limit!.jobs_per_sec,
      limited,
      {
        worker: Math.round(limited.cpu.worker),
        postgres: limited.cpu.postgres === null ? null : Math.round(limited.cpu.postgres),
        machine: limited.cpu.machine,
      },
    ),
    [`pg-boss ${pgBossPackage.version} (drain)`]: drainRow(
      throughput.pg_boss.jobs_per_sec,
      pgBoss,
      cpu.pg_boss,
    ),
    'jobdeck enqueueJobs (bulk 1000)': { 'jobs/s': enqueue.bulk.jobs_per_sec },
    'jobdeck enqueueJob (single)': { 'jobs/s': enqueue.single.jobs_per_sec },
  });
  console.log(
    `jobdeck / raw = ${throughput.ratio_jobdeck_vs_raw}, jobdeck / pg-boss = ${throughput.ratio_jobdeck_vs_pgboss} (${N} jobs, concurrency ${WORKER.concurrency})`,
  );
  console.log(
    `jobdeck drain: ${throughput.jobdeck.jobs_per_sec} jobs/s with no limit, ${throughput.jobdeck_with_limit!.jobs_per_sec} jobs/s with a limit configured (× ${throughput.jobdeck_with_limit!.ratio_vs_no_limit})`,
  );
  if (cpu.jobdeck.total !== null)
    console.log(
      `CPU per job, worker + PostgreSQL: jobdeck ${cpu.jobdeck.total} µs, raw Graphile Worker ${cpu.raw_graphile_worker.total} µs, pg-boss ${cpu.pg_boss.total} µs; 10,000 jobs/s on ${os.cpus().length} cores allows at most ${cpu.budget_at_10k_jobs_per_sec} µs`,
    );
  const machine = (m: CpuPerJobTotal['machine']) =>
    m ? `${m.total} µs (${m.user} user + ${m.system} kernel)` : 'not read';
  console.log(
    `Whole machine's CPU per job (/proc/stat, kernel included): jobdeck ${machine(cpu.jobdeck.machine)}, raw Graphile Worker ${machine(cpu.raw_graphile_worker.machine)}, pg-boss ${machine(cpu.pg_boss.machine)}`,
  );
  const history = HISTORY_ROWS.toLocaleString('en-US');
  console.table({
    'add → start, jobdeck': results.latency_add_to_start_ms.jobdeck,
    'add → start, raw Graphile Worker': results.latency_add_to_start_ms.raw_graphile_worker,
    '  jobdeck: enqueueJob call / then to the start': {
      p50: `${latency.split.jobdeck.enqueue_p50} / ${latency.split.jobdeck.start_p50}`,
    },
    '  raw: add_job call / then to the start': {
      p50: `${latency.split.raw.enqueue_p50} / ${latency.split.raw.start_p50}`,
    },
    [`progress → subscriber (${progress.updatesPerSec} updates/s)`]:
      results.progress_to_subscriber_ms,
    [`  same, dashboard's selection (${progressDashboard.updatesPerSec} updates/s)`]: {
      p50: progressDashboard.p50,
      p99: progressDashboard.p99,
    },
    [`activeJobs GraphQL (${history} history rows)`]: results.active_jobs_ms.graphql,
    [`GET /api/v2/jobs/active (${history} history rows)`]: results.active_jobs_ms.rest,
    'jobdeck jobs --json, fresh process (built CLI)': { p50: results.cli_jobs_ms },
    '  node -e 0, fresh process': { p50: results.node_start_ms },
  });
  for (const [name, run] of [
    ['progress', progress],
    ["progress, dashboard's selection", progressDashboard],
  ] as const) {
    console.log(
      `${name}: ${run.updates} updates sent, ${run.events} events received, ${run.reconnects} RECONNECTED (backlog dropped), ${run.undelivered} never delivered`,
    );
  }
  console.table(targetRows(results.targets));
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  await writeFile(
    new URL('./results/latest.json', import.meta.url),
    `${JSON.stringify(results, null, 2)}\n`,
  );
  console.log('bench: wrote bench/results/latest.json');
} finally {
  await stopEmbedded();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}
