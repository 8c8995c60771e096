import type { FastifyInstance } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { createDb } from '../db/pool.ts';
import {
  countJobOutcomesSince,
  countHeldJobs,
  countJobsByStatus,
  countWaitingByReason,
  countWorkers,
  databaseNow,
  finishedJobsSince,
  knownTaskTypes,
  lastJobEventId,
} from '../jobs/monitoring.ts';
import { JOB_STATUSES } from '../jobs/states.ts';
import type { JobChangeHub } from '../live/job-changes.ts';
import { isLocalRequest } from './local.ts';

export interface MetricsOptions {
  /**
   * When set, `/metrics` needs `Authorization: Bearer <this>`; unset, it answers only requests
   * from this machine (loopback, not forwarded by a proxy).
   */
  token?: string | undefined;
  /** Label `jobdeck_jobs` with the organisation too (`org`): a series per tenant. */
  orgLabel?: boolean | undefined;
  /** A pool with the owner's rights: the figures are cluster-wide, not any user's. */
  ownerPool: pg.Pool;
  changes: JobChangeHub;
  /** A worker whose heartbeat is older than this counts as gone. */
  workerStaleMs: number;
}

/** Most finished jobs read per scrape; a backlog is worked off over the next scrapes. */
const MAX_FINISHED_PER_SCRAPE = 20_000;
const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/**
 * prom-client's default gauges whose names end in `_total`, which Prometheus keeps for counters
 * (`promtool check metrics` flags them); `jobdeck_nodejs_active_{handles,requests,resources}`
 * carry the same figures by type.
 */
const MISNAMED_DEFAULTS = [
  'jobdeck_nodejs_active_handles_total',
  'jobdeck_nodejs_active_requests_total',
  'jobdeck_nodejs_active_resources_total',
];

/**
 * Prometheus exposition at `GET /metrics`, read from the database at scrape time, so each API
 * process reports the same cluster-wide figures whichever worker ran the jobs:
 * - `jobdeck_jobs{status,type}`: unfinished jobs now, and jobs finished in the last hour (with
 *   `orgLabel`, `jobdeck_jobs{status,type,org}`: each tenant's share); every status of every
 *   registered task type has a series, and a series once seen stays, at 0 when no job is in it;
 * - `jobdeck_job_duration_seconds{type,status}` and `jobdeck_job_queue_wait_seconds{type}`
 *   (enqueue → start) histograms, fed by jobs finished since the previous scrape;
 * - `jobdeck_jobs_failed_total`, `_retried_total`, `_cancelled_total{type}` counters: the
 *   transitions the database recorded since this process started (N retries count N, however
 *   often or seldom it is scraped);
 * - `jobdeck_jobs_held{reason,type,queue}`: waiting jobs kept back, by why (`jobdeck.wait_reason`:
 *   paused, org_limit, key_limit, concurrency_limit, rate_limit, task_rate_limit);
 * - `jobdeck_jobs_waiting{reason}`: waiting jobs a limit keeps back (concurrency_limit, rate_limit);
 * - `jobdeck_workers{state}` (alive by heartbeat), `jobdeck_subscriptions` (live streams here);
 * - `jobdeck_http_request_duration_seconds{method,route,status}` for this process's requests;
 * - Node's process metrics with the `jobdeck_` prefix.
 */
export function registerMetrics(app: FastifyInstance, options: MetricsOptions): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'jobdeck_' });
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
  const db = createDb(options.ownerPool);

  const duration = new Histogram({
    name: 'jobdeck_job_duration_seconds',
    help: 'Run time of finished jobs (last attempt), by type and final status',
    labelNames: ['type', 'status'],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const wait = new Histogram({
    name: 'jobdeck_job_queue_wait_seconds',
    help: 'Time from enqueue to first start, of jobs finished on their first attempt',
    labelNames: ['type'],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const http = new Histogram({
    name: 'jobdeck_http_request_duration_seconds',
    help: 'HTTP request latency of this server process, by route',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });

  // Outcome counters count the transitions recorded after the newest event at start: read whole
  // at each scrape, so they do not depend on scrape timing. Task types stay at 0 once seen.
  let firstEventId: Promise<string> | null = null;
  const countedFrom = () => {
    firstEventId ??= lastJobEventId(db).catch((error: unknown) => {
      firstEventId = null;
      throw error;
    });
    return firstEventId;
  };
  // Read before the server takes requests, so jobs enqueued once it is up are all counted; a
  // database away at start is asked again at the first scrape.
  app.addHook('onReady', () =>
    countedFrom().then(
      () => {},
      () => {},
    ),
  );
  const counterTypes = new Set<string>();
  let outcomes: Promise<
    Map<string, { failed: number; cancelled: number; retried: number }>
  > | null = null;
  // One read per scrape for the three counters (prom-client collects each metric on its own).
  const readOutcomes = () => {
    outcomes ??= (async () => {
      const [from, types] = await Promise.all([countedFrom(), knownTaskTypes(db)]);
      const rows = await countJobOutcomesSince(db, from);
      for (const type of types) counterTypes.add(type);
      for (const row of rows) counterTypes.add(row.type);
      const byType = new Map(rows.map((row) => [row.type, row]));
      return new Map(
        [...counterTypes].map((type) => [
          type,
          byType.get(type) ?? { failed: 0, cancelled: 0, retried: 0 },
        ]),
      );
    })().finally(() => {
      // the next scrape reads again; concurrent collectors of this one share the read
      setImmediate(() => (outcomes = null));
    });
    return outcomes;
  };
  const outcomeCounter = (name: string, help: string, field: 'failed' | 'cancelled' | 'retried') =>
    new Counter({
      name,
      help,
      labelNames: ['type'],
      registers: [registry],
      async collect() {
        const counts = await readOutcomes();
        this.reset();
        for (const [type, row] of counts) this.inc({ type }, row[field]);
      },
    });
  outcomeCounter(
    'jobdeck_jobs_failed_total',
    'Jobs that failed for good (again after each retry by hand)',
    'failed',
  );
  outcomeCounter(
    'jobdeck_jobs_retried_total',
    'Retries: automatic ones after a failed attempt, and retries by hand',
    'retried',
  );
  outcomeCounter('jobdeck_jobs_cancelled_total', 'Jobs cancelled', 'cancelled');

  // Jobs finished after the server started are observed once each (scrapes run one at a time).
  // The watermark keeps PostgreSQL's own text of the time: a JS Date holds milliseconds only, and
  // a job finished at .123456 would stay above a watermark of .123 and be counted on every scrape.
  let watermark: { at: string; id: string } | null = null;
  const started = databaseNow(db).then((now) => {
    watermark = { at: now, id: '00000000-0000-0000-0000-000000000000' };
  });
  started.catch(() => {});
  let observing: Promise<void> = Promise.resolve();
  const observeFinished = () => {
    observing = observing.then(observeOnce, observeOnce);
    return observing;
  };
  const observeOnce = async () => {
    await started;
    if (!watermark) return;
    const rows = await finishedJobsSince(db, watermark, MAX_FINISHED_PER_SCRAPE);
    for (const row of rows) {
      if (row.run_s !== null) duration.observe({ type: row.type, status: row.status }, row.run_s);
      if (row.wait_s !== null && row.attempts === 1 && row.manual_retries === 0)
        wait.observe({ type: row.type }, Math.max(0, row.wait_s));
    }
    const last = rows[rows.length - 1];
    if (last) watermark = { at: last.finished_at, id: last.id };
  };

  const byOrg = Boolean(options.orgLabel);
  const seenJobSeries = new Set<string>();
  new Gauge({
    name: 'jobdeck_jobs',
    help: `Jobs by status${byOrg ? ', type and organisation' : ' and type'}: unfinished ones now, finished ones over the last hour`,
    labelNames: byOrg ? ['status', 'type', 'org'] : ['status', 'type'],
    registers: [registry],
    async collect() {
      const [rows, types] = await Promise.all([
        countJobsByStatus(db, { byOrg }),
        knownTaskTypes(db),
      ]);
      // Every status of every registered type, and every series seen before, at 0 unless counted:
      // a queue that empties reads 0, not "no data".
      if (!byOrg)
        for (const type of types)
          for (const status of JOB_STATUSES) seenJobSeries.add(JSON.stringify([status, type]));
      for (const row of rows)
        seenJobSeries.add(
          JSON.stringify(byOrg ? [row.status, row.type, row.org] : [row.status, row.type]),
        );
      const counted = new Map(
        rows.map((row) => [
          JSON.stringify(byOrg ? [row.status, row.type, row.org] : [row.status, row.type]),
          row.n,
        ]),
      );
      this.reset();
      for (const key of seenJobSeries) {
        const [status, type, org] = JSON.parse(key) as string[];
        this.set(
          byOrg ? { status: status!, type: type!, org: org! } : { status: status!, type: type! },
          counted.get(key) ?? 0,
        );
      }
    },
  });
  const seenHeldSeries = new Set<string>();
  new Gauge({
    name: 'jobdeck_jobs_held',
    help: 'Waiting jobs kept back, by why (paused, org_limit, key_limit, concurrency_limit, rate_limit, task_rate_limit), type and queue ("" for the default queue)',
    labelNames: ['reason', 'type', 'queue'],
    registers: [registry],
    async collect() {
      const rows = await countHeldJobs(db);
      // A series seen before reads 0 once its jobs are released, not "no data".
      const keyOf = (row: { reason: string; type: string; queue: string }) =>
        JSON.stringify([row.reason, row.type, row.queue]);
      for (const row of rows) seenHeldSeries.add(keyOf(row));
      const counted = new Map(rows.map((row) => [keyOf(row), row.n]));
      this.reset();
      for (const key of seenHeldSeries) {
        const [reason, type, queue] = JSON.parse(key) as string[];
        this.set({ reason: reason!, type: type!, queue: queue! }, counted.get(key) ?? 0);
      }
    },
  });
  new Gauge({
    name: 'jobdeck_jobs_waiting',
    help: 'Waiting jobs a limit keeps back, by reason: concurrency_limit (held) or rate_limit (put back until their turn)',
    labelNames: ['reason'],
    registers: [registry],
    async collect() {
      const counts = await countWaitingByReason(db);
      for (const [reason, n] of Object.entries(counts)) this.set({ reason }, n);
    },
  });
  new Gauge({
    name: 'jobdeck_workers',
    help: 'Worker processes by state: alive (fresh heartbeat) or stale',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const { alive, stale } = await countWorkers(db, options.workerStaleMs);
      this.set({ state: 'alive' }, alive);
      this.set({ state: 'stale' }, stale);
    },
  });
  new Gauge({
    name: 'jobdeck_subscriptions',
    help: 'Live GraphQL subscriptions and event streams served by this process',
    registers: [registry],
    collect() {
      this.set(options.changes.activeSubscriptions);
    },
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    http.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  app.get('/metrics', async (request, reply) => {
    if (options.token && !sameSecret(request.headers.authorization, `Bearer ${options.token}`))
      return reply.code(401).header('www-authenticate', 'Bearer').send({
        error: 'unauthorized',
        message: 'metrics need Authorization: Bearer <JOBDECK_METRICS_TOKEN>',
      });
    // Without a token, only this machine: the figures span every tenant.
    if (!options.token && !isLocalRequest(request))
      return reply.code(403).send({
        error: 'forbidden',
        message:
          'metrics answer only requests from this machine unless JOBDECK_METRICS_TOKEN is set (then send Authorization: Bearer <token>)',
      });
    // Before rendering: the histograms and counters must hold this scrape's jobs already.
    await observeFinished();
    const body = await registry.metrics();
    return reply.type(registry.contentType).send(body);
  });
  return registry;
}

/** Compares a header with the expected value in constant time (no timing oracle on the token). */
function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
