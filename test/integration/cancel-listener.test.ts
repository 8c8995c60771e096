import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { openConnections, type Connections } from '../../src/db/connections.ts';
import { JobCancelledError } from '../../src/errors.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { ActiveJobs } from '../../src/worker/active.ts';
import { CANCEL_CHANNEL, CancelListener } from '../../src/worker/cancel-listener.ts';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/db.ts';
import { markRunning, recordingLogger, registerTasks } from '../helpers/worker.ts';

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  ['quick', defineTask({ run: () => null })],
]);
const later = { runAt: new Date(Date.now() + 3_600_000) };

describe('CancelListener', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;
  let connections: Connections;
  const active = new ActiveJobs();
  let cancels: CancelListener;

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, tasks);
    jobdeck = createJobdeck({ pool: t.pool });
    connections = openConnections({ worker: { concurrency: 1 } }, { connectionString: t.url });
    cancels = new CancelListener({
      listener: connections.listener,
      active,
      logger: recordingLogger(),
    });
    await cancels.start();
  });
  afterAll(async () => {
    await cancels.stop();
    await connections.close();
    await jobdeck.close();
    await t.drop();
  });

  async function runningHere(workerId: string) {
    const job = await jobdeck.enqueueJob('quick', {}, later);
    await markRunning(t, job, workerId);
    const controller = new AbortController();
    active.add({ id: job.id, type: 'quick', attempt: 1, controller, marked: true });
    return { job, controller };
  }

  it('aborts a job running here as soon as its cancel commits, with the reason', async () => {
    const { job, controller } = await runningHere('w-listen');
    await jobdeck.cancelJob(job.id, 'not needed');
    await waitFor(() => controller.signal.aborted, { what: 'the signal to abort' });
    expect(controller.signal.reason).toBeInstanceOf(JobCancelledError);
    expect((controller.signal.reason as Error).message).toContain('not needed');
    active.delete(job.id);
  });

  it('ignores notifications that are not JSON or name no job of this process, and listens on', async () => {
    await t.pool.query('select pg_notify($1, $2)', [CANCEL_CHANNEL, 'not json']);
    await t.pool.query('select pg_notify($1, $2)', [
      CANCEL_CHANNEL,
      JSON.stringify({ id: '00000000-0000-4000-8000-000000000000' }),
    ]);
    const { job, controller } = await runningHere('w-listen');
    await t.pool.query('select pg_notify($1, $2)', [
      CANCEL_CHANNEL,
      JSON.stringify({ id: job.id, reason: 'by hand' }),
    ]);
    await waitFor(() => controller.signal.aborted, { what: 'the signal to abort' });
    expect((controller.signal.reason as Error).message).toContain('by hand');
    active.delete(job.id);
  });
});
