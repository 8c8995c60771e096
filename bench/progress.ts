import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { Config } from '../src/config.ts';
import { migrate } from '../src/db/migrate.ts';
import { createPool } from '../src/db/pool.ts';
import { signToken } from '../src/auth/tokens.ts';
import { startServer } from '../src/http/server.ts';
import { enqueueJobsOn } from '../src/jobs/enqueue.ts';
import type { TaskRegistry } from '../src/jobs/registry.ts';
import { defineTask } from '../src/jobs/task.ts';
import { createLogger } from '../src/logger.ts';
import { startWorker } from '../src/worker/runner.ts';
import type { WorkerSettings } from './latency.ts';
import { percentile } from './stats.ts';

const SECRET = 'bench-secret-bench-secret-bench-secret';
const OWNER = { userId: 'alice', orgId: 'acme' };

/**
 * What the subscriber selects. `event`: the change's id, status and progress (status and progress
 * are read from the row under row-level security: a notification carries the id only, issue 18).
 * `dashboard`: what dashboard/app.js selects, the job's step and ETA too (the same one read per
 * event per subscriber).
 */
export type ProgressSelection = 'event' | 'dashboard';

const SUBSCRIPTIONS: Record<ProgressSelection, string> = {
  event: 'subscription { myJobsChanged { kind id status progress } }',
  dashboard: `subscription {
    myJobsChanged { kind id status progress job { id status progress currentStep etaAt } }
  }`,
};

interface ChangeEvent {
  myJobsChanged: {
    kind: string;
    id: string | null;
    progress: number | null;
    job?: { progress: number } | null;
  };
}

interface TickerPayload {
  updates: number;
  intervalMs: number;
}

/** One running job's progress calls and how far the subscriber has caught up with them. */
interface Track {
  /** `sent[v]`: performance.now() when the task called progress(v). */
  sent: number[];
  /** The lowest progress value the subscriber has not yet seen (or seen overtaken). */
  next: number;
  /** The job's last progress value. */
  last: number;
  /** Resolves once the subscriber has seen the job's last value. */
  caughtUp: Promise<void>;
  markCaughtUp: () => void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export interface ProgressLatencyResult {
  p50: number;
  p99: number;
  /** progress() calls made by the measured jobs. */
  updates: number;
  /** What the tasks achieved, updates/s over the measured run. */
  updatesPerSec: number;
  /** CHANGED events the subscriber received for the measured jobs. */
  events: number;
  /** RECONNECTED events: the server dropped a backlog the subscriber had fallen behind on. */
  reconnects: number;
  /** progress() calls that no event ever reached (0 unless something was lost). */
  undelivered: number;
}

/**
 * Progress update → GraphQL subscription client latency. A jobdeck HTTP server, a jobdeck worker
 * and a graphql-ws client run in this process (one clock: performance.now()). `jobs` jobs run at
 * once, each calling `progress(1)`, `progress(2)`, … every `intervalMs` (10/s × 100 jobs ≈ 1k
 * updates/s); the client subscribes to `myJobsChanged` as the jobs' owner, selecting either the
 * event alone or what the dashboard selects ({@link ProgressSelection}).
 *
 * Latency definition: the worker coalesces progress writes (the latest value wins), so not every
 * value reaches the client. For every progress(v) call, the latency is the time from that call to
 * the first event the client receives for that job carrying progress ≥ v: how long until the
 * client shows that update or a newer one. Values superseded before they were written count with
 * the time until their successor arrived, so none are left out.
 */
export async function progressToSubscriberLatency(
  url: string,
  config: Config,
  options: {
    jobs: number;
    updatesPerJob: number;
    intervalMs: number;
    selection: ProgressSelection;
  },
  settings: WorkerSettings,
): Promise<ProgressLatencyResult> {
  if (options.updatesPerJob < 1 || options.updatesPerJob > 99)
    throw new RangeError('updatesPerJob must be 1..99 (progress is a percentage)');
  const pool = createPool(url, { max: 2 });
  await migrate(pool);

  const tracks = new Map<string, Track>();
  const tasks: TaskRegistry = new Map([
    [
      'progress_ticker',
      defineTask({
        async run({ job, payload, progress }) {
          const { updates, intervalMs } = payload as TickerPayload;
          let markCaughtUp = () => {};
          const caughtUp = new Promise<void>((resolve) => (markCaughtUp = resolve));
          const track: Track = { sent: [], next: 1, last: updates, caughtUp, markCaughtUp };
          tracks.set(job.id, track);
          const started = performance.now();
          for (let value = 1; value <= updates; value++) {
            await sleep(started + value * intervalMs - performance.now());
            track.sent[value] = performance.now();
            // Not awaited: the task keeps its pace while the write is batched.
            void progress(value);
          }
          // Stay running until the last value has reached the client (or 5 s passed), so the
          // finish's own event never stands in for a progress event.
          await Promise.race([track.caughtUp, sleep(5000)]);
        },
      }),
    ],
  ]);

  const samples: number[] = [];
  let events = 0;
  let reconnects = 0;
  const received = (change: ChangeEvent['myJobsChanged'], at: number) => {
    if (change.kind === 'RECONNECTED') reconnects++;
    if (change.kind !== 'CHANGED' || !change.id) return;
    const track = tracks.get(change.id);
    if (!track) return;
    events++;
    const value = Math.max(change.progress ?? 0, change.job?.progress ?? 0);
    // Only values already sent can be matched (sent.length - 1 is the latest).
    while (track.next <= value && track.next < track.sent.length) {
      samples.push(at - track.sent[track.next]!);
      track.next++;
    }
    if (track.next > track.last) track.markCaughtUp();
  };

  const server = await startServer({
    config: { ...config, jwtSecret: SECRET, logLevel: 'error' },
    connectionString: url,
    port: 0,
  });
  const worker = await startWorker({
    connectionString: url,
    tasks,
    config: {
      ...config,
      // every job of the scenario runs at once
      concurrency: Math.max(settings.concurrency, options.jobs),
      localQueueSize: settings.localQueue,
      completeBatchDelayMs: 0,
      logLevel: 'error',
    },
    logger: createLogger('error'),
  });
  const client = createClient({
    url: `${server.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${await signToken(OWNER, SECRET)}` },
  });
  const errors: unknown[] = [];
  const stop = client.subscribe<ChangeEvent>(
    { query: SUBSCRIPTIONS[options.selection] },
    {
      next: ({ data, errors: graphqlErrors }) => {
        const at = performance.now();
        if (graphqlErrors) errors.push(...graphqlErrors);
        if (data) received(data.myJobsChanged, at);
      },
      error: (error) => errors.push(error),
      complete: () => {},
    },
  );
  const runJobs = async (count: number, payload: TickerPayload) => {
    const jobs = await enqueueJobsOn(
      pool,
      Array.from({ length: count }, () => ({
        type: 'progress_ticker',
        payload,
        ownerId: OWNER.userId,
        orgId: OWNER.orgId,
      })),
    );
    const deadline = Date.now() + payload.updates * payload.intervalMs + 30_000;
    const ids = jobs.map((job) => job.id);
    for (;;) {
      const { rows } = await pool.query<{ n: number }>(
        `select count(*)::int as n from jobdeck.jobs where id = any($1) and status <> 'succeeded'`,
        [ids],
      );
      if (rows[0]?.n === 0) return ids;
      if (errors.length > 0) throw new Error(`subscription failed: ${JSON.stringify(errors)}`);
      if (Date.now() > deadline) throw new Error('the progress jobs did not finish in time');
      await sleep(100);
    }
  };
  try {
    // The LISTEN is in place once the hub counts the subscription.
    const deadline = Date.now() + 10_000;
    while (server.changes.activeSubscriptions === 0) {
      if (errors.length > 0) throw new Error(`subscription failed: ${JSON.stringify(errors)}`);
      if (Date.now() > deadline) throw new Error('the subscription did not start');
      await sleep(10);
    }
    // Warm-up (plans, connections), not counted.
    await runJobs(2, { updates: 10, intervalMs: 20 });
    tracks.clear();
    samples.length = 0;
    events = 0;
    reconnects = 0;
    const ids = await runJobs(options.jobs, {
      updates: options.updatesPerJob,
      intervalMs: options.intervalMs,
    });
    const measured = ids.map((id) => tracks.get(id)).filter((t): t is Track => t !== undefined);
    const sends = measured.flatMap((t) => t.sent.filter((s) => s !== undefined));
    const span = (Math.max(...sends) - Math.min(...sends)) / 1000;
    return {
      p50: percentile(samples, 50),
      p99: percentile(samples, 99),
      updates: sends.length,
      updatesPerSec: Math.round(sends.length / span),
      events,
      reconnects,
      undelivered: sends.length - samples.length,
    };
  } finally {
    stop();
    await client.dispose();
    await worker.stop();
    await server.close();
    await pool.end();
  }
}
