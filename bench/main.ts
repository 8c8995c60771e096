/**
 * `npm run bench`: drains N trivial jobs through raw Graphile Worker and through jobdeck (full
 * tracking: queued → running → one progress update → succeeded) on the same PostgreSQL with the
 * same worker settings, and reports jobs/s. `-- --quick` uses smaller counts; `-- --jobs N` sets N.
 * Also: single-call enqueue rate, add → start latency (jobdeck and raw Graphile Worker, idle
 * worker), active-jobs read latency over GraphQL and REST with a large history, and the worker's
 * peak RSS. pg-boss and subscriber latency are still to come (the benchmark issue).
 */
import { mkdir, mkdtemp, chmod, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { run, type Runner } from 'graphile-worker';
import { loadConfig } from '../src/config.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import { createDb, createPool } from '../src/db/pool.ts';
import { defineTask } from '../src/jobs/task.ts';
import { syncTaskTypes, type TaskRegistry } from '../src/jobs/registry.ts';
import { enqueueJobsOn } from '../src/jobs/enqueue.ts';
import { startWorker } from '../src/worker/runner.ts';
import { createLogger, makeWorkerLogger } from '../src/logger.ts';
import { addToStartLatency, singleEnqueueRate } from './latency.ts';

const { values } = parseArgs({
  options: { quick: { type: 'boolean' }, jobs: { type: 'string' } },
  strict: true,
});
const N = values.jobs ? Number(values.jobs) : values.quick ? 5000 : 50_000;
if (!Number.isInteger(N) || N < 1) throw new Error('--jobs must be a whole number >= 1');
const CONCURRENCY = 50;
const LATENCY_SAMPLES = values.quick ? 50 : 200;
const HISTORY_ROWS = values.quick ? 100_000 : 1_000_000;
const LOCAL_QUEUE = 500;

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

async function freshDatabase(name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl!);
  url.pathname = `/${name}`;
  return url.toString();
}

async function waitUntil(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 20));
}

async function rawGraphileWorker(): Promise<number> {
  const url = await freshDatabase('bench_raw');
  const pool = createPool(url, { max: CONCURRENCY + 4 });
  await migrate(pool);
  for (let i = 0; i < N; i += 5000) {
    await pool.query(
      `select graphile_worker.add_jobs(array(select row('noop', '{}'::json, null, null, null, null, null, null)::graphile_worker.job_spec from generate_series(1, $1)))`,
      [Math.min(5000, N - i)],
    );
  }
  let done = 0;
  const started = performance.now();
  const runner: Runner = await run({
    pgPool: pool,
    taskList: { noop: async () => void done++ },
    concurrency: CONCURRENCY,
    noHandleSignals: true,
    logger: makeWorkerLogger('error'),
    preset: {
      worker: { localQueue: { size: LOCAL_QUEUE }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
    },
  });
  await waitUntil(
    async () =>
      (await pool.query('select count(*)::int as n from graphile_worker.jobs')).rows[0].n === 0,
  );
  const seconds = (performance.now() - started) / 1000;
  await runner.stop();
  await pool.end();
  return N / seconds;
}

async function jobdeck(): Promise<{ drain: number; enqueueBulk: number; peakRssMb: number }> {
  const url = await freshDatabase('bench_jobdeck');
  const pool = createPool(url, { max: 8 });
  await migrate(pool);
  const tasks: TaskRegistry = new Map([
    ['noop', defineTask({ run: ({ progress }) => progress(50) })],
  ]);
  await syncTaskTypes(createDb(pool), tasks, { maxAttempts: 3, maxPayloadBytes: 1 << 20 });
  const enqueueStarted = performance.now();
  for (let i = 0; i < N; i += 1000) {
    const specs = Array.from({ length: Math.min(1000, N - i) }, () => ({
      type: 'noop',
      payload: {},
    }));
    await enqueueJobsOn(pool, specs);
  }
  const enqueueBulk = N / ((performance.now() - enqueueStarted) / 1000);
  const started = performance.now();
  // The worker runs in this process: its peak RSS is this process's while draining.
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 50);
  const worker = await startWorker({
    connectionString: url,
    tasks,
    config: {
      ...config,
      concurrency: CONCURRENCY,
      localQueueSize: LOCAL_QUEUE,
      completeBatchDelayMs: 0,
      logLevel: 'error',
    },
    logger: createLogger('error'),
  });
  await waitUntil(
    async () =>
      (await pool.query(`select count(*)::int as n from jobdeck.jobs where status <> 'succeeded'`))
        .rows[0].n === 0,
  );
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  await worker.stop();
  await pool.end();
  return { drain: N / seconds, enqueueBulk, peakRssMb: Math.round(peakRss / 1048576) };
}

try {
  const raw = await rawGraphileWorker();
  const tracked = await jobdeck();
  const single = await singleEnqueueRate(
    await freshDatabase('bench_single'),
    Math.min(5000, Math.max(100, Math.round(N / 10))),
  );
  const latency = await addToStartLatency(
    await freshDatabase('bench_latency'),
    await freshDatabase('bench_latency_raw'),
    config,
    LATENCY_SAMPLES,
  );
  // Loaded here, after GRAPHILE_ENV is set: Grafast reads it once, when it loads.
  process.env['GRAPHILE_ENV'] ??= 'production';
  const { activeJobsLatency } = await import('./reads.ts');
  const reads = await activeJobsLatency(await freshDatabase('bench_reads'), HISTORY_ROWS);
  const versionPool = new pg.Client({ connectionString: adminUrl });
  await versionPool.connect();
  const pgVersion = (await versionPool.query('show server_version')).rows[0]
    .server_version as string;
  await versionPool.end();
  const results = {
    at: new Date().toISOString(),
    jobs: N,
    throughput: {
      raw_graphile_worker: { jobs_per_sec: Math.round(raw) },
      jobdeck: { jobs_per_sec: Math.round(tracked.drain) },
      ratio_jobdeck_vs_raw: Number((tracked.drain / raw).toFixed(3)),
    },
    enqueue: {
      single: { jobs_per_sec: Math.round(single) },
      bulk: { jobs_per_sec: Math.round(tracked.enqueueBulk) },
    },
    latency_add_to_start_ms: { jobdeck: latency.jobdeck, raw_graphile_worker: latency.raw },
    active_jobs_ms: { graphql: reads.graphql, rest: reads.rest, history_rows: HISTORY_ROWS },
    worker_peak_rss_mb: tracked.peakRssMb,
    settings: {
      concurrency: CONCURRENCY,
      local_queue: LOCAL_QUEUE,
      complete_batch_delay_ms: 0,
      flush_interval_ms: config.flushIntervalMs,
    },
    machine: { cores: os.cpus().length, pg_version: pgVersion, node_version: process.version },
  };
  console.table({
    'raw Graphile Worker (drain)': {
      'jobs/s': results.throughput.raw_graphile_worker.jobs_per_sec,
    },
    'jobdeck, fully tracked (drain)': { 'jobs/s': results.throughput.jobdeck.jobs_per_sec },
    'jobdeck enqueueJobs (bulk 1000)': { 'jobs/s': results.enqueue.bulk.jobs_per_sec },
    'jobdeck enqueueJob (single)': { 'jobs/s': results.enqueue.single.jobs_per_sec },
  });
  console.table({
    'add → start, jobdeck': latency.jobdeck,
    'add → start, raw Graphile Worker': latency.raw,
    [`activeJobs GraphQL (${HISTORY_ROWS} history rows)`]: reads.graphql,
    [`GET /api/v2/jobs/active (${HISTORY_ROWS} history rows)`]: reads.rest,
  });
  console.log(`worker peak RSS while draining: ${tracked.peakRssMb} MB`);
  console.log(
    `jobdeck / raw = ${results.throughput.ratio_jobdeck_vs_raw} (${N} jobs, concurrency ${CONCURRENCY})`,
  );
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  await writeFile(
    new URL('./results/latest.json', import.meta.url),
    `${JSON.stringify(results, null, 2)}\n`,
  );
} finally {
  await stopEmbedded();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}
