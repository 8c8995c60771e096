import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import { loadTasks, type TaskRegistry } from '../../src/jobs/registry.ts';
import { closeSubscriptions, startTestServer, stopServers } from './api.ts';
import { ROOT } from './cli.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { registerTasks, stopWorkers } from './worker.ts';

/** What an API test file works with; filled in before its first test. */
export interface ApiTestbed {
  t: TestDatabase;
  jobdeck: Jobdeck;
  server: JobdeckServer;
  /** The task modules of tasks/, registered in the database. */
  tasks: TaskRegistry;
}

/**
 * Registers the hooks every API test file needs: its own database with the real task types, a
 * client, a server on a free port; after each test, subscriptions closed and no worker left
 * running; at the end, everything closed and the database dropped.
 */
export function useApiTestbed(): ApiTestbed {
  const bed = {} as ApiTestbed;
  beforeAll(async () => {
    bed.t = await createTestDatabase();
    bed.tasks = await loadTasks(path.join(ROOT, 'tasks'));
    await registerTasks(bed.t, bed.tasks);
    bed.jobdeck = createJobdeck({ connectionString: bed.t.url });
    bed.server = await startTestServer(bed.t);
  });
  afterEach(async () => {
    await closeSubscriptions();
    expect(await stopWorkers()).toBe(0);
  });
  afterAll(async () => {
    await stopServers();
    await bed.jobdeck?.close();
    await bed.t?.drop();
  });
  return bed;
}
