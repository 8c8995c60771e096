import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { openConnections } from '../../src/db/connections.ts';
import { startJobdeckServer } from '../../src/http/app.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { JobChangeHub, type JobChangeEvent } from '../../src/live/job-changes.ts';
import { createLogger } from '../../src/logger.ts';
import { sleep } from '../../src/util/sleep.ts';
import { runWorker } from '../../src/worker/runner.ts';
import { TEST_JWT_SECRET } from '../helpers/api.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { registerTasks, testConfig } from '../helpers/worker.ts';

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  [
    'waits',
    defineTask({
      payload: z.object({}),
      async run({ signal }) {
        await sleep(60_000, signal);
        signal.throwIfAborted();
      },
    }),
  ],
]);

/**
 * `jobdeck start` in one process: the worker and the server on one set of connections
 * (src/db/connections.ts, docs/connections.md).
 */
describe('a worker and the server in one process', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, tasks);
    jobdeck = createJobdeck({ pool: t.pool });
  });
  afterAll(async () => {
    await jobdeck.close();
    await t.drop();
  });

  /** The connections to the test database, by application_name. */
  async function connectionsByName(): Promise<Record<string, number>> {
    const { rows } = await t.pool.query<{ name: string; n: number }>(
      `select application_name as name, count(*)::int as n from pg_stat_activity
        where datname = current_database() and application_name like 'jobdeck-%'
          and application_name <> 'jobdeck-test'
        group by 1 order by 1`,
    );
    return Object.fromEntries(rows.map((r) => [r.name, r.n]));
  }

  it('share one LISTEN connection and one main pool, and close them all when the process stops', async () => {
    const config = testConfig({
      concurrency: 2,
      heartbeatIntervalMs: 100,
      rescueAfterMs: 1000,
      jwtSecret: TEST_JWT_SECRET,
      host: '127.0.0.1',
    });
    const connections = openConnections(
      { worker: { concurrency: config.concurrency }, server: true },
      { connectionString: t.url },
    );
    const logger = createLogger('error', 'test');
    const worker = await runWorker(
      { connectionString: t.url, tasks, config, logger },
      { connections, ownsConnections: false, taskTypesRegistered: true },
    );
    const server = await startJobdeckServer(
      { config, connectionString: t.url, port: 0 },
      connections,
    );
    try {
      // The API's live changes and the worker's cancels, on the same LISTEN connection.
      const events = await server.changes.subscribe(
        JobChangeHub.topic({ kind: 'org', orgId: 'acme' }),
      );
      const job = await jobdeck.enqueueJob('waits', {}, { orgId: 'acme' });
      await waitForStatus(jobdeck, job.id, 'running');
      await jobdeck.cancelJob(job.id, 'shared listener');
      await waitForStatus(jobdeck, job.id, 'cancelled', { timeoutMs: 5000 });
      const seen: JobChangeEvent[] = [];
      for await (const event of events) {
        seen.push(event);
        if (event.status === 'cancelled') break;
      }
      expect(seen.map((e) => e.status)).toContain('running');

      const open = await connectionsByName();
      expect(open['jobdeck-listener']).toBe(1);
      expect(open['jobdeck-main']).toBeLessThanOrEqual(connections.plan.main.max);
      expect(Object.keys(open).sort()).toEqual(
        ['jobdeck-listener', 'jobdeck-main', 'jobdeck-worker']
          .concat(open['jobdeck-api'] ? ['jobdeck-api'] : [])
          .sort(),
      );
    } finally {
      await server.close();
      await worker.stop();
      await connections.close();
    }
    await waitFor(async () => Object.keys(await connectionsByName()).length === 0, {
      what: 'every connection of the process to close',
    });
  });
});
