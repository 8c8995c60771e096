/**
 * `npm run soak`: jobdeck under load while things break, checked job by job at the end.
 *
 * 1. Starts its own embedded PostgreSQL in a temporary folder (on a fixed port, so it can be
 *    restarted in place), migrates it, and registers the soak task types (soak/tasks/: instant,
 *    progress, flaky, side_effect).
 * 2. Runs 3 `jobdeck worker` and 2 `jobdeck serve` child processes (`-- --workers N --servers M`;
 *    fast rescue settings: heartbeat 500 ms, rescue after 5 s), server-1 and worker-1 with
 *    DATABASE_URL through a PgBouncer in transaction mode that it starts (DATABASE_LISTEN_URL
 *    straight to PostgreSQL; `-- --no-pgbouncer`: all direct), and keeps a `/v1/jobs/events` SSE stream and a graphql-ws
 *    `myJobsChanged` subscription open on each server for the whole run. Like a process
 *    supervisor, it replaces a child that exits on its own (and counts that as a problem).
 * 3. Enqueues 100,000 jobs (`-- --quick`: 10,000) with the bulk TypeScript API, paced and with a
 *    bounded backlog, plus a trickle of single jobs through the servers (REST `POST /v1/jobs` and
 *    GraphQL `enqueueJob`, alternating, over every server) owned by the streams' user, so the
 *    streams see changes.
 * 4. Injects three faults, one after another, as the bulk enqueue passes 20 %, 45 % and 70 %:
 *    kill -9 of the worker with the most running jobs (replaced by a fresh one once its jobs
 *    were rescued), pg_terminate_backend on every LISTEN connection, and a stop/start of
 *    PostgreSQL.
 * 5. Waits for every job to finish (or a deadline), then checks each committed job: present,
 *    finished, in the state its type should end in; counts duplicate side effects (the cost of
 *    at-least-once), re-runs, reconnect notices and how the streams came through each fault.
 *
 * Prints a table (jobs/s, lost, and per process: its route, jobs finished or API enqueues and
 * stream events), writes soak/results/latest.json (children's logs in soak/results/logs/), and
 * exits 1 on any lost or stuck job or other broken guarantee. Child processes and the database
 * are always cleaned up, also on errors and Ctrl-C. Not part of `npm test`: it takes minutes.
 *
 *   npm run soak                 # 100k jobs
 *   npm run soak -- --quick      # 10k jobs, under 3 minutes
 *   npm run soak -- --jobs 2000  # any count
 *
 * `-- --flow` runs the flow-control scenario instead (soak/flow/main.ts: a concurrency cap and a
 * two-tenant backlog of `--jobs` / 10 jobs on 3 workers), writing soak/results/flow-latest.json.
 * `-- --steps` runs the durable-steps scenario instead (soak/steps/main.ts: multi-step jobs that
 * sleep and wait for signals while workers are killed), writing soak/results/steps-latest.json.
 * `-- --help` lists the flags.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { apiUserUrl, ensureApiLogin, managedApiPassword } from '../src/db/api-login.ts';
import { migrate } from '../src/db/migrate.ts';
import { createDb } from '../src/db/pool.ts';
import { signToken } from '../src/auth/tokens.ts';
import { loadTasks, syncTaskTypes } from '../src/jobs/registry.ts';
import { drain, watchBacklog } from './backlog.ts';
import { judge } from './checks.ts';
import { freePort } from '../src/db/embedded.ts';
import { startSoakCluster, type SoakCluster } from './cluster.ts';
import {
  cutListeners,
  killBusiestWorker,
  restartPostgres,
  round,
  type KillResult,
  type ListenerResult,
  type RestartResult,
} from './faults.ts';
import { Fleet } from './fleet.ts';
import {
  finishedByWorkerPid,
  printProcessFigures,
  processFigures,
  type Route,
} from './per-process.ts';
import { startPgBouncer, type PgBouncer } from './pgbouncer.ts';
import { maxConnectionsFor, throughPgBouncer } from './shape.ts';
import { Ledger, runApiEnqueue, runBulkEnqueue } from './load.ts';
import { createSoakPool, createSoakSchema, verify } from './queries.ts';
import {
  enqueueFigures,
  machineInfo,
  printResults,
  streamReports,
  type FaultWindow,
  type SoakResults,
} from './report.ts';
import type { ScenarioRun } from './scenario.ts';
import { SETTINGS } from './settings.ts';
import { openGraphqlSubscription, openSseStream, type Stream } from './streams.ts';
import { runFlow } from './flow/main.ts';
import { runSteps } from './steps/main.ts';

const JOBS = SETTINGS.jobs;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TASKS_DIR = path.join(ROOT, 'soak/tasks');
const RESULTS_DIR = path.join(ROOT, 'soak/results');
const LOGS_DIR = path.join(RESULTS_DIR, 'logs');
/** The user whose jobs the streams watch: the owner of every job enqueued through the API. */
const WATCHER = { userId: 'soak-watcher', orgId: 'soak' };

const started = Date.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (what: string) =>
  console.log(`soak [${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${what}`);

// --- everything that must be undone, whatever happens ---------------------------------------------
let cluster: SoakCluster | null = null;
let pool: pg.Pool | null = null;
let fleet: Fleet | null = null;
let bouncer: PgBouncer | null = null;
const streams: Stream[] = [];
let stopping = false;
let cleaned: Promise<void> | null = null;

function cleanUp(): Promise<void> {
  stopping = true;
  return (cleaned ??= (async () => {
    await Promise.all(streams.map((s) => s.close().catch(() => {})));
    await fleet?.stop(10_000);
    await bouncer?.stop().catch(() => {});
    await pool?.end().catch(() => {});
    await cluster
      ?.destroy()
      .catch((error: Error) => say(`could not stop PostgreSQL: ${error.message}`));
  })());
}

let signals = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    signals += 1;
    if (signals > 1) {
      fleet?.killAll();
      process.exit(130);
    }
    say(`${signal}: stopping the processes and the database (again to force)`);
    void cleanUp().finally(() => process.exit(130));
  });
}

async function run(): Promise<number> {
  await rm(LOGS_DIR, { recursive: true, force: true });
  await mkdir(LOGS_DIR, { recursive: true });

  say('starting embedded PostgreSQL');
  cluster = await startSoakCluster({
    maxConnections: maxConnectionsFor(SETTINGS, SETTINGS.concurrency),
  });
  const db = cluster;
  pool = createSoakPool(db.url);
  const soakPool = pool;
  await migrate(soakPool);
  await createSoakSchema(soakPool);
  await syncTaskTypes(createDb(soakPool), await loadTasks(TASKS_DIR), {
    maxAttempts: 3,
    maxPayloadBytes: 1 << 20,
  });
  const pgVersion = (
    await soakPool.query<{ v: string }>("select current_setting('server_version') as v")
  ).rows[0]!.v;

  if (SETTINGS.pgbouncer) {
    // jobdeck_api's password first, as a release step would: PgBouncer answers every login with
    // the last refusal for server_login_retry, so a server that set it through PgBouncer while
    // logging in could be refused (docs/connections.md, "The API's login").
    await ensureApiLogin(soakPool, apiUserUrl(db.url), managedApiPassword(db.url));
    // Room for every pool of every process (docs/connections.md, "Pool sizes").
    bouncer = await startPgBouncer(db.url, { poolSize: 20, maxClients: 1000 });
    say(`PgBouncer (transaction mode) at ${new URL(bouncer.url).host}`);
  }
  const pooler = bouncer;
  const routes = new Map<string, Route>();
  /** A process's route: DATABASE_URL through PgBouncer, the LISTEN connections direct. */
  const routed = (name: string, extra: Record<string, string> = {}) => {
    const via: Route = pooler && throughPgBouncer(SETTINGS, name) ? 'pgbouncer' : 'direct';
    routes.set(name, via);
    return via === 'pgbouncer'
      ? { ...extra, DATABASE_URL: pooler!.url, DATABASE_LISTEN_URL: db.url }
      : extra;
  };

  const secret = randomBytes(32).toString('base64url');
  fleet = new Fleet({
    logsDir: LOGS_DIR,
    say,
    env: Fleet.environment({
      DATABASE_URL: db.url,
      JOBDECK_TASKS_DIR: TASKS_DIR,
      JOBDECK_DATA_DIR: path.join(db.dataDir, 'state'),
      JOBDECK_CRONTAB: path.join(db.dataDir, 'no-crontab'),
      JOBDECK_CONCURRENCY: String(SETTINGS.concurrency),
      JOBDECK_HEARTBEAT_INTERVAL_MS: String(SETTINGS.heartbeat_interval_ms),
      JOBDECK_RESCUE_AFTER_MS: String(SETTINGS.rescue_after_ms),
      JOBDECK_POLL_INTERVAL_MS: String(SETTINGS.poll_interval_ms),
      JOBDECK_SHUTDOWN_TIMEOUT_MS: String(SETTINGS.shutdown_timeout_ms),
      JOBDECK_JWT_SECRET: secret,
      JOBDECK_SSE_HEARTBEAT_MS: '5000',
      JOBDECK_HOST: '127.0.0.1',
      JOBDECK_LOG_LEVEL: 'info',
      GRAPHILE_ENV: 'production',
    }),
  });
  const processes = fleet;
  say(`starting ${SETTINGS.workers} workers and ${SETTINGS.servers} servers`);
  const ports = await Promise.all(Array.from({ length: SETTINGS.servers }, () => freePort()));
  await Promise.all([
    ...Array.from({ length: SETTINGS.workers }, (_, i) =>
      processes.start(`worker-${i + 1}`, 'worker', routed(`worker-${i + 1}`)),
    ),
    ...ports.map((port, i) =>
      processes.start(
        `server-${i + 1}`,
        'serve',
        routed(`server-${i + 1}`, { JOBDECK_PORT: String(port) }),
      ),
    ),
  ]);
  const bouncerClientsAtStart = pooler ? (await pooler.clients()).length : null;
  const servers = ports.map((port) => `http://127.0.0.1:${port}`);
  const token = await signToken({ ...WATCHER, ttlSeconds: 6 * 3600 }, secret);
  for (const [i, server] of servers.entries()) {
    streams.push(await openSseStream(`sse@server-${i + 1}`, server, token));
    streams.push(await openGraphqlSubscription(`graphql@server-${i + 1}`, server, token));
  }
  const setupDone = Date.now();

  const backlog = watchBacklog(soakPool, SETTINGS.stall_ms);
  const ledger = new Ledger();
  let apiStopped = false;
  say(`enqueueing ${JOBS.toLocaleString('en-US')} jobs (bulk) plus a REST/GraphQL trickle`);
  const bulk = runBulkEnqueue(soakPool, ledger, {
    jobs: JOBS,
    batchSize: SETTINGS.bulk_batch,
    jobsPerSec: SETTINGS.bulk_jobs_per_sec,
    maxBacklog: SETTINGS.max_backlog,
    backlog: () => backlog.state.unfinished,
    stopped: () => stopping || backlog.stalled(),
  }).then(() =>
    say(
      ledger.bulkJobs < JOBS
        ? `bulk enqueue given up after ${ledger.bulkJobs} jobs: nothing finished for ${SETTINGS.stall_ms / 1000} s`
        : `bulk enqueue done (${ledger.bulkJobs} jobs)`,
    ),
  );
  const api = runApiEnqueue(ledger, {
    servers,
    token,
    intervalMs: SETTINGS.api_interval_ms,
    stopped: () => apiStopped || stopping,
  });

  // The faults, one after another, as the bulk enqueue passes its fault points.
  const reached = async (fraction: number) => {
    while (ledger.bulkJobs < fraction * JOBS && !stopping && !backlog.stalled()) await sleep(50);
  };
  const windows: FaultWindow[] = [];

  await reached(SETTINGS.fault_points.kill_worker);
  say('fault 1: kill -9 of the busiest worker');
  const kill: KillResult = await killBusiestWorker(soakPool, processes.workers(), {
    minRunning: 3,
    rescueTimeoutMs: 60_000,
  });
  const killedAt = Date.parse(kill.killed_at);
  windows.push({ name: 'kill_worker', from: killedAt, at: killedAt, expectsReconnect: false });
  say(
    `  ${kill.worker}: ${kill.running_jobs} running, ${kill.locked_jobs} locked; released by the rescue after ${kill.released_seconds ?? 'never'} s, all running again or done after ${kill.rescue_seconds ?? 'never'} s; starting a replacement`,
  );
  // The replacement takes the killed worker's route, so a PgBouncer worker stays in the run.
  const replacement = `worker-${SETTINGS.workers + 1}`;
  const killedVia = routes.get(kill.worker) ?? 'direct';
  routes.set(replacement, killedVia);
  await processes.start(
    replacement,
    'worker',
    killedVia === 'pgbouncer' && pooler
      ? { DATABASE_URL: pooler.url, DATABASE_LISTEN_URL: db.url }
      : {},
  );

  await reached(SETTINGS.fault_points.terminate_listeners);
  say('fault 2: pg_terminate_backend on every LISTEN connection');
  const listeners: ListenerResult = await cutListeners(soakPool);
  const cutAt = Date.parse(listeners.at);
  windows.push({ name: 'terminate_listeners', from: cutAt, at: cutAt, expectsReconnect: true });
  say(`  terminated ${JSON.stringify(listeners.terminated)}`);

  await reached(SETTINGS.fault_points.restart_postgres);
  say(`fault 3: PostgreSQL stop, ${SETTINGS.pg_down_ms} ms down, start`);
  const restart: RestartResult = await restartPostgres(db, soakPool, () => processes.processes, {
    downMs: SETTINGS.pg_down_ms,
    recoverTimeoutMs: SETTINGS.pg_recover_timeout_ms,
    lastSeq: () => ledger.lastSeq,
  });
  windows.push({
    name: 'restart_postgres',
    from: Date.parse(restart.stopped_at),
    at: Date.parse(restart.started_at),
    expectsReconnect: true,
  });
  say(
    `  back after ${restart.down_seconds} s; a job enqueued after that succeeded ${restart.first_new_job_succeeded_after_s ?? 'never'} s later`,
  );

  await bulk;
  // The streams need changes after the last fault to show that they still deliver.
  await sleep(Math.max(0, windows.at(-1)!.at + 10_000 - Date.now()));
  apiStopped = true;
  await api;
  const enqueueDone = Date.now();
  say(`enqueue done: ${ledger.committed.length} committed; waiting for the jobs to finish`);
  const gaveUpAfterMs = await drain(soakPool, {
    deadline: enqueueDone + SETTINGS.drain_deadline_ms,
    stallMs: SETTINGS.stall_ms,
    stopped: () => stopping,
    say,
  });
  const finishedAt = Date.now();
  await backlog.stop();
  await sleep(500); // the streams take in the last changes

  const bouncerTransactions = pooler ? await pooler.transactions() : null;
  say('checking every job');
  const checks = await verify(soakPool, ledger.committed, ledger.unacknowledged);
  const verifiedAt = Date.now();
  const streamFigures = streamReports(
    streams.map((s) => s.stats),
    windows,
    finishedAt,
  );
  const { problems, warnings } = judge({
    checks,
    ledger,
    jobs: JOBS,
    gaveUpAfterMs,
    kill,
    restart,
    processes: processes.processes,
    streams: streamFigures,
    windows,
    rescueAfterMs: SETTINGS.rescue_after_ms,
  });
  const runSeconds = (finishedAt - setupDone) / 1000;
  const serverNames = new Map(servers.map((url, i) => [url, `server-${i + 1}`]));
  const perProcess = processFigures({
    processes: processes.processes,
    routes,
    finishedByPid: await finishedByWorkerPid(soakPool),
    api: new Map([...ledger.byServer].map(([url, n]) => [serverNames.get(url) ?? url, n])),
    streams: streamFigures,
    runSeconds,
  });
  const { expected, succeeded, failed_expected, duplicate_side_effects, ...rest } = checks;
  const results: SoakResults = {
    jobs: expected,
    succeeded,
    failed_expected,
    lost: checks.missing + checks.unfinished,
    duplicate_side_effects,
    rescue_seconds: kill.rescue_seconds,
    listener_reconnects: streamFigures.reduce((n, s) => n + s.reconnect_notices, 0),
    pg_restart_recovered: restart.recovered,
    ok: problems.length === 0,
    problems,
    warnings,
    checks: rest,
    enqueue: enqueueFigures(ledger),
    faults: { kill_worker: kill, terminate_listeners: listeners, restart_postgres: restart },
    streams: streamFigures,
    replacements: processes.replacements,
    processes: perProcess,
    pgbouncer: pooler
      ? {
          pool_mode: 'transaction',
          through_it: perProcess.filter((p) => p.via === 'pgbouncer').map((p) => p.name),
          clients_at_start: bouncerClientsAtStart,
          transactions: bouncerTransactions,
        }
      : null,
    durations_s: {
      setup: round((setupDone - started) / 1000),
      enqueue: round((enqueueDone - setupDone) / 1000),
      run: round((finishedAt - setupDone) / 1000),
      verify: round((verifiedAt - finishedAt) / 1000),
      total_before_cleanup: round((Date.now() - started) / 1000),
    },
    throughput_jobs_per_sec: Math.round(expected / runSeconds),
    settings: { ...SETTINGS, run_at: new Date(started).toISOString(), database: 'embedded' },
    machine: machineInfo(pgVersion),
  };
  printResults(results);
  printProcessFigures(perProcess);
  if (results.pgbouncer)
    console.log(
      `through PgBouncer: ${results.pgbouncer.through_it.join(', ')}; ${results.pgbouncer.transactions} transactions passed on`,
    );
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(path.join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  say('wrote soak/results/latest.json');
  return results.ok ? 0 : 1;
}

let code = 1;
try {
  const scenario: ScenarioRun = {
    say,
    logsDir: LOGS_DIR,
    resultsDir: RESULTS_DIR,
    own(resources) {
      cluster = resources.cluster ?? cluster;
      pool = resources.pool ?? pool;
      fleet = resources.fleet ?? fleet;
    },
    stopping: () => stopping,
  };
  code = SETTINGS.flow
    ? await runFlow(scenario)
    : SETTINGS.steps
      ? await runSteps(scenario)
      : await run();
} catch (error) {
  // After Ctrl-C the cleanup pulls the database away from under the run: not worth a stack.
  if (!stopping) say(`failed: ${(error as Error).stack ?? String(error)}`);
  code = 1;
} finally {
  say('stopping the processes and the database');
  await cleanUp();
  say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
process.exit(code);
