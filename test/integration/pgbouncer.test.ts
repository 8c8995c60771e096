import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { apiUserUrl, ensureApiLogin, managedApiPassword } from '../../src/db/api-login.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import { loadTasks, type TaskRegistry } from '../../src/jobs/registry.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import { sleep } from '../../src/util/sleep.ts';
import {
  closeSubscriptions,
  startTestServer,
  stopServers,
  subscribe,
  tokenFor,
} from '../helpers/api.ts';
import { ROOT, startCli } from '../helpers/cli.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import {
  havePgBouncer,
  PGBOUNCER,
  startPgBouncer,
  type TestPgBouncer,
} from '../helpers/pgbouncer.ts';
import { openStream } from '../helpers/sse.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

if (!havePgBouncer)
  console.warn(`PgBouncer tests skipped: no PgBouncer at ${PGBOUNCER} (apt install pgbouncer)`);

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  [
    'bounced',
    defineTask({
      payload: z.object({ failFirst: z.boolean().default(false), pauseMs: z.number().default(50) }),
      backoff: [50],
      async run({ payload, progress, attempt }) {
        for (let i = 1; i <= 3; i++) {
          await progress({ completed: i, total: 3 }, `part ${i}`);
          await sleep(payload.pauseMs);
        }
        if (payload.failFirst && attempt === 1) throw new Error('first attempt fails');
        return { attempt };
      },
    }),
  ],
  [
    'waits',
    defineTask({
      async run({ progress, signal }) {
        await progress(10, 'waiting');
        await sleep(60_000, signal);
      },
    }),
  ],
]);

/**
 * Everything that runs a job's life, with DATABASE_URL through PgBouncer in transaction pooling
 * mode and DATABASE_LISTEN_URL straight to PostgreSQL (docs/connections.md, "Behind PgBouncer").
 */
describe.skipIf(!havePgBouncer)('behind PgBouncer in transaction mode', () => {
  let t: TestDatabase;
  let bouncer: TestPgBouncer;
  /** The test database as the processes under test see it: its URL is PgBouncer's. */
  let pooled: TestDatabase;
  let jobdeck: Jobdeck;

  beforeAll(async () => {
    t = await createTestDatabase();
    // PgBouncer logs in with the passwords of its auth_file, and jobdeck_api's must be on the role
    // first: a refused login would be remembered for server_login_retry.
    await ensureApiLogin(t.pool, apiUserUrl(t.url), managedApiPassword(t.url));
    bouncer = await startPgBouncer(t.url);
    pooled = { ...t, url: bouncer.url };
    await registerTasks(t, tasks);
    await registerTasks(t, await loadTasks(path.join(ROOT, 'tasks')));
    jobdeck = createJobdeck({ connectionString: bouncer.url, listenConnectionString: t.url });
  });
  afterEach(async () => {
    await closeSubscriptions();
    await stopServers();
    expect(await stopWorkers(), 'a test left a worker running').toBe(0);
  });
  afterAll(async () => {
    await jobdeck?.close();
    await bouncer?.stop();
    await t?.drop();
  });

  /** The application names of PgBouncer's clients now. */
  async function pooledApplications(): Promise<string[]> {
    return (await bouncer.clients()).map((client) => client['application_name'] ?? '');
  }

  it('runs a job’s life, a retry and a cancel, heard at once over the direct LISTEN', async () => {
    const before = await bouncer.transactions();
    const worker = await runTestWorker(pooled, tasks, {
      config: {
        databaseListenUrl: t.url,
        // Neither polling nor the heartbeat's cancel check could act within the test's deadlines:
        // a new job and a cancel must arrive by LISTEN on the direct connection.
        pollIntervalMs: 3_600_000,
        heartbeatIntervalMs: 60_000,
        rescueAfterMs: 180_000,
      },
    });
    await sleep(300); // the worker's first fetch has found nothing
    const job = await jobdeck.enqueueJob('bounced', {}, { ownerId: 'alice', orgId: 'acme' });
    const done = await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 10_000 });
    expect(done).toMatchObject({ progress: 100, completed_steps: 3, result: { attempt: 1 } });

    const waiting = await jobdeck.enqueueJob('waits', {});
    await waitForStatus(jobdeck, waiting.id, 'running', { timeoutMs: 10_000 });
    await waitFor(async () => (await jobdeck.getJob(waiting.id)).progress === 10);
    await jobdeck.cancelJob(waiting.id);
    await waitForStatus(jobdeck, waiting.id, 'cancelled', { timeoutMs: 10_000 });
    await worker.stop();

    // A retry: its next attempt is due after the backoff, which Graphile Worker finds by polling.
    const retried = await runTestWorker(pooled, tasks, {
      config: { databaseListenUrl: t.url, pollIntervalMs: 200 },
    });
    const flaky = await jobdeck.enqueueJob('bounced', { failFirst: true });
    const second = await waitForStatus(jobdeck, flaky.id, 'succeeded');
    expect(second).toMatchObject({ attempts: 2, result: { attempt: 2 } });
    expect(second.errors).toMatchObject([{ attempt: 1, message: 'first attempt fails' }]);
    const applications = await pooledApplications();
    await retried.stop();

    expect(applications).toEqual(expect.arrayContaining(['jobdeck-worker', 'jobdeck-main']));
    expect(applications).not.toContain('jobdeck-listener');
    expect(applications).not.toContain('jobdeck-worker-listen');
    expect(await bouncer.transactions()).toBeGreaterThan(before + 20);
  });

  it('serves a GraphQL subscription and an event stream from an API pool behind PgBouncer', async () => {
    const server: JobdeckServer = await startTestServer(pooled, { databaseListenUrl: t.url });
    const token = await tokenFor('alice', 'acme');
    const job = await jobdeck.enqueueJob(
      'bounced',
      { pauseMs: 100 },
      { ownerId: 'alice', orgId: 'acme', runAt: new Date(Date.now() + 3_600_000) },
    );
    const subscription = await subscribe<{ jobUpdated: { status: string; progress: number } }>(
      server,
      `subscription($id: UUID!) { jobUpdated(id: $id) { status progress } }`,
      { token, variables: { id: job.id } },
    );
    const stream = await openStream(`${server.url}/v1/jobs/${job.id}/events`, token);
    expect(stream.response.status).toBe(200);
    const worker = await runTestWorker(pooled, tasks, { config: { databaseListenUrl: t.url } });
    await t.pool.query(
      `select graphile_worker.reschedule_jobs(array[(select gw_job_id from jobdeck.jobs where id = $1)], run_at := now())`,
      [job.id],
    );
    await t.pool.query('update jobdeck.jobs set run_at = now() where id = $1', [job.id]);
    await subscription.next((event) => event.jobUpdated.status === 'succeeded');
    const progress = subscription.events.map((event) => event.jobUpdated.progress);
    expect(progress.some((p) => p > 0 && p < 100)).toBe(true);
    await waitFor(() => stream.events.some((event) => event.event === 'end'), {
      what: 'the event stream to end',
    });
    const streamed = stream.events.map((event) => event.data.job?.status);
    expect(streamed).toContain('running');
    expect(streamed).toContain('succeeded');
    const applications = await pooledApplications();
    await stream.close();
    await worker.stop();
    expect(applications).toContain('jobdeck-api');
  });

  it('runs `jobdeck worker` as a process with DATABASE_URL through PgBouncer', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'jobdeck-pgbouncer-worker-'));
    const child = await startCli(['worker'], {
      DATABASE_URL: bouncer.url,
      DATABASE_LISTEN_URL: t.url,
      JOBDECK_DATA_DIR: dataDir,
      JOBDECK_TASKS_DIR: path.join(ROOT, 'tasks'),
      JOBDECK_CRONTAB: path.join(ROOT, 'test/fixtures/no-crontab'),
      JOBDECK_HEARTBEAT_INTERVAL_MS: '60000',
      JOBDECK_RESCUE_AFTER_MS: '180000',
      JOBDECK_LOG_LEVEL: 'warn',
    });
    try {
      const report = await jobdeck.enqueueJob('export_report', {
        reportType: 'orders',
        format: 'json',
        stepDelayMs: 10,
      });
      await waitForStatus(jobdeck, report.id, 'succeeded');
      const slow = await jobdeck.enqueueJob('export_report', {
        reportType: 'orders',
        format: 'csv',
        stepDelayMs: 30_000,
      });
      await waitForStatus(jobdeck, slow.id, 'running');
      await jobdeck.cancelJob(slow.id);
      await waitForStatus(jobdeck, slow.id, 'cancelled', { timeoutMs: 10_000 });
      expect(await pooledApplications()).toContain('jobdeck-worker');
    } finally {
      child.child.kill('SIGTERM');
      expect(await child.exited, child.output()).toBe(0);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
