import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { JobCancelledError } from '../../src/errors.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { ActiveJobs } from '../../src/worker/active.ts';
import { Heartbeat } from '../../src/worker/heartbeat.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { markRunning, recordingLogger, registerTasks } from '../helpers/worker.ts';

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  ['quick', defineTask({ run: () => null })],
]);
const later = { runAt: new Date(Date.now() + 3_600_000) };

describe('Heartbeat', () => {
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

  function heartbeat(workerId: string, active = new ActiveJobs(), pool: pg.Pool = t.pool) {
    const logger = recordingLogger();
    const beat = new Heartbeat({
      pool,
      workerId,
      active,
      logger,
      intervalMs: 1000,
      concurrency: 4,
      taskTypes: ['quick'],
      poolId: () => 'pool-test',
    });
    return { beat, active, logger };
  }

  /** A job running attempt 1 on `workerId`, registered as running in `active`. */
  async function runningJob(workerId: string, active: ActiveJobs) {
    const job = await jobdeck.enqueueJob('quick', {}, later);
    await markRunning(t, job, workerId);
    const controller = new AbortController();
    active.add({ id: job.id, type: 'quick', attempt: 1, controller, marked: true });
    return { job, controller };
  }

  async function workerRow(id: string) {
    const { rows } = await t.pool.query(
      `select pool_id, pid, concurrency, task_types, running_jobs, stopping_at
         from jobdeck_private.workers where id = $1`,
      [id],
    );
    return rows[0];
  }

  it('registers the worker on its first beat, shows it stopping, and removes it on unregister', async () => {
    const { beat } = heartbeat('w-beat');
    expect(beat.healthySince).toBeNull();
    await beat.runOnce();
    expect(beat.healthySince).not.toBeNull();
    expect(await workerRow('w-beat')).toMatchObject({
      pool_id: 'pool-test',
      pid: process.pid,
      concurrency: 4,
      task_types: ['quick'],
      running_jobs: 0,
      stopping_at: null,
    });
    beat.markStopping();
    await beat.runOnce();
    expect((await workerRow('w-beat')).stopping_at).toBeInstanceOf(Date);
    await beat.unregister();
    expect(await workerRow('w-beat')).toBeUndefined();
  });

  it('aborts a running job whose cancel request it was not notified of (the polling fallback)', async () => {
    const { beat, active } = heartbeat('w-poll');
    const { job, controller } = await runningJob('w-poll', active);
    // A cancel request written without NOTIFY, as if the notification had been lost.
    await t.pool.query(
      `update jobdeck.jobs set cancel_requested_at = now(), cancel_reason = 'polled' where id = $1`,
      [job.id],
    );
    await beat.runOnce();
    expect(controller.signal.reason).toBeInstanceOf(JobCancelledError);
    expect((controller.signal.reason as JobCancelledError).message).toContain('polled');
    await beat.unregister();
  });

  it('abandons a job it lost to a rescue on another worker', async () => {
    const { beat, active, logger } = heartbeat('w-lost');
    // Running here as far as this process knows, but the row says another worker has it.
    const { job, controller } = await runningJob('w-rescuer', active);
    await beat.runOnce();
    expect(controller.signal.aborted).toBe(true);
    expect((controller.signal.reason as Error).name).toBe('AttemptLostError');
    expect((controller.signal.reason as Error).message).toContain('presumed dead');
    expect(logger.warnings).toEqual([
      `job ${job.id} was rescued by another worker; abandoning it here`,
    ]);
    await beat.unregister();
  });

  it('writes a memory and CPU sample to its running jobs', async () => {
    const { beat, active } = heartbeat('w-sample');
    const { job } = await runningJob('w-sample', active);
    await beat.runOnce();
    const row = await jobdeck.getJob(job.id);
    expect(Number(row.peak_rss_bytes)).toBeGreaterThan(1024 * 1024);
    expect(row.cpu_ms).not.toBeNull();
    expect((await workerRow('w-sample')).running_jobs).toBe(1);
    await beat.unregister();
  });

  it('counts as unhealthy from a failed beat until the next one succeeds', async () => {
    const broken = new pg.Pool({ connectionString: t.url });
    await broken.end();
    const { beat } = heartbeat('w-broken', new ActiveJobs(), broken);
    await expect(beat.runOnce()).rejects.toThrow();
    expect(beat.healthySince).toBeNull();
  });
});
