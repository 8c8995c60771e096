import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { openConnections, type Connections } from '../../src/db/connections.ts';
import { createPool } from '../../src/db/pool.ts';
import { JobCancelledError } from '../../src/errors.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { ActiveJobs } from '../../src/worker/active.ts';
import { loadJobChannels, type JobChannels } from '../../src/live/channels.ts';
import { CancelListener } from '../../src/worker/cancel-listener.ts';
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
  let channels: JobChannels;

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, tasks);
    jobdeck = createJobdeck({ pool: t.pool });
    connections = openConnections({ worker: { concurrency: 1 } }, { connectionString: t.url });
    channels = await loadJobChannels(t.pool);
    cancels = new CancelListener({
      listener: connections.listener,
      channels,
      pool: t.pool,
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
    await t.pool.query('select pg_notify($1, $2)', [channels.cancel, 'not json']);
    await t.pool.query('select pg_notify($1, $2)', [
      channels.cancel,
      JSON.stringify({ id: '00000000-0000-4000-8000-000000000000' }),
    ]);
    const { job, controller } = await runningHere('w-listen');
    await jobdeck.cancelJob(job.id, 'by hand');
    await waitFor(() => controller.signal.aborted, { what: 'the signal to abort' });
    expect((controller.signal.reason as Error).message).toContain('by hand');
    active.delete(job.id);
  });

  it('takes a hint for a job the database does not say to cancel as no reason to abort', async () => {
    const { job, controller } = await runningHere('w-listen');
    const hint = JSON.stringify({ id: job.id, reason: 'forged' });
    for (let i = 0; i < 50; i++)
      await t.pool.query('select pg_notify($1, $2)', [channels.cancel, hint]);
    // A real cancel of another job, sent after the hints, is acted on: the hints were read.
    const other = await runningHere('w-listen');
    await jobdeck.cancelJob(other.job.id, 'real');
    await waitFor(() => other.controller.signal.aborted, { what: 'the real cancel' });
    expect(controller.signal.aborted).toBe(false);
    expect((await jobdeck.getJob(job.id)).status).toBe('running');
    active.delete(job.id);
    active.delete(other.job.id);
  });

  it('checks a burst of hints with one query, not one each', async () => {
    const pool = createPool(t.url, { max: 1 });
    let queries = 0;
    pool.on('acquire', () => (queries += 1));
    const mine = new ActiveJobs();
    const burstListener = new CancelListener({
      listener: connections.listener,
      channels,
      pool,
      active: mine,
      logger: recordingLogger(),
    });
    await burstListener.start();
    try {
      const job = await jobdeck.enqueueJob('quick', {}, later);
      await markRunning(t, job, 'w-burst');
      const controller = new AbortController();
      mine.add({ id: job.id, type: 'quick', attempt: 1, controller, marked: true });
      // 200 hints in one commit (distinct payloads: PostgreSQL folds identical ones).
      await t.pool.query(
        `select pg_notify($1, json_build_object('id', $2::uuid, 'n', g)::text)
           from generate_series(1, 200) g`,
        [channels.cancel, job.id],
      );
      await waitFor(() => queries > 0, { what: 'the hints to be checked' });
      await jobdeck.cancelJob(job.id, 'after the burst');
      await waitFor(() => controller.signal.aborted, { what: 'the real cancel' });
      expect(queries).toBeLessThanOrEqual(4);
    } finally {
      await burstListener.stop();
      await pool.end();
    }
  });
});
