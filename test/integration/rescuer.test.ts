import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { Rescuer } from '../../src/worker/rescuer.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { markRunning, recordingLogger, registerTasks } from '../helpers/worker.ts';

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  ['quick', defineTask({ run: () => null })],
]);
const later = { runAt: new Date(Date.now() + 3_600_000) };

describe('Rescuer', () => {
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

  /** A worker last seen `silentMs` ago, running one job. */
  async function silentWorker(id: string, silentMs: number) {
    await t.pool.query(
      `insert into jobdeck_private.workers (id, hostname, pid, concurrency, heartbeat_at)
       values ($1, 'h', 1, 1, now() - make_interval(secs => $2::float8 / 1000))`,
      [id, silentMs],
    );
    const job = await jobdeck.enqueueJob('quick', {}, later);
    await markRunning(t, job, id);
    return job;
  }

  function rescuer(healthySince: number | null, workerId = 'w-rescuer') {
    const logger = recordingLogger();
    const rescue = new Rescuer({
      pool: t.pool,
      workerId,
      logger,
      rescueAfterMs: 1000,
      intervalMs: 1000,
      healthySince: () => healthySince,
    });
    return { rescue, logger };
  }

  it('rescues the jobs of a worker silent for longer than rescueAfterMs, and removes it', async () => {
    const job = await silentWorker('w-dead', 60_000);
    const { rescue, logger } = rescuer(Date.now() - 5000);
    await rescue.runOnce();
    const rescued = await jobdeck.getJob(job.id);
    expect(rescued).toMatchObject({ status: 'retrying', attempts: 1 });
    expect(rescued.errors[0]).toMatchObject({ name: 'WorkerLostError', interrupted: true });
    expect(rescued.errors[0]!.message).toContain('worker w-dead stopped heartbeating');
    expect(logger.warnings).toEqual([
      'rescued 1 job(s) from worker(s) that stopped heartbeating: w-dead',
    ]);
    const { rows } = await t.pool.query(
      `select id from jobdeck_private.workers where id = 'w-dead'`,
    );
    expect(rows).toEqual([]);
    await jobdeck.cancelJob(job.id);
  });

  it('judges no one dead until its own heartbeats have been healthy for rescueAfterMs', async () => {
    const job = await silentWorker('w-quiet', 60_000);
    for (const healthySince of [null, Date.now()]) {
      await rescuer(healthySince).rescue.runOnce();
      expect((await jobdeck.getJob(job.id)).status).toBe('running');
    }
    await rescuer(Date.now() - 5000).rescue.runOnce();
    expect((await jobdeck.getJob(job.id)).status).toBe('retrying');
    await jobdeck.cancelJob(job.id);
  });

  it('leaves workers that beat recently, and itself, alone', async () => {
    const alive = await silentWorker('w-alive', 0);
    const self = await silentWorker('w-self', 60_000);
    await rescuer(Date.now() - 5000, 'w-self').rescue.runOnce();
    expect((await jobdeck.getJob(alive.id)).status).toBe('running');
    expect((await jobdeck.getJob(self.id)).status).toBe('running');
  });
});
