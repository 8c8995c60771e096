import type { AnyTaskDefinition } from '../../src/jobs/task.ts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { defineTask } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { PermanentJobError } from '../../src/errors.ts';
import {
  createTestDatabase,
  transitionTimeline,
  waitFor,
  waitForStatus,
  type TestDatabase,
} from '../helpers/db.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  [
    'flaky',
    defineTask({
      payload: z.object({ failTimes: z.number().int() }),
      run({ payload, attempt }) {
        if (attempt <= payload.failTimes) throw new Error(`boom on attempt ${attempt}`);
        return { attempt };
      },
    }),
  ],
  [
    'permanent',
    defineTask({
      maxAttempts: 5,
      run() {
        throw new PermanentJobError('the file does not exist');
      },
    }),
  ],
  ['typed', defineTask({ payload: z.object({ n: z.number() }), run: ({ payload }) => payload.n })],
]);

describe('a failing job', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, tasks);
    jobdeck = createJobdeck({ pool: t.pool });
  });
  afterEach(async () => {
    expect(await stopWorkers(), 'a test left a worker running').toBe(0);
  });
  afterAll(async () => {
    await jobdeck.close();
    await t.drop();
  });

  /** Skips the backoff wait so the next attempt runs now. */
  async function runRetryNow(gwJobId: string | null) {
    await t.pool.query(
      `select graphile_worker.reschedule_jobs(array[$1::bigint], run_at := now())`,
      [gwJobId],
    );
  }

  it('is retried with its error recorded, then fails for good when attempts run out', async () => {
    const job = await jobdeck.enqueueJob('flaky', { failTimes: 5 }, { maxAttempts: 2 });
    const worker = await runTestWorker(t, tasks);

    const retrying = await waitForStatus(jobdeck, job.id, 'retrying');
    expect(retrying.attempts).toBe(1);
    expect(retrying.errors).toHaveLength(1);
    expect(retrying.errors[0]).toMatchObject({
      attempt: 1,
      message: 'boom on attempt 1',
      name: 'Error',
      permanent: false,
    });
    expect(retrying.errors[0]!.stack).toContain('boom on attempt 1');
    // The next attempt is scheduled on the type's backoff (default: about 2 s from now).
    expect(retrying.run_at.getTime()).toBeGreaterThan(Date.now());
    expect(retrying.finished_at).toBeNull();

    await runRetryNow(retrying.gw_job_id);
    const failed = await waitForStatus(jobdeck, job.id, 'failed');
    await worker.stop();
    expect(failed.attempts).toBe(2);
    expect(failed.errors.map((e) => e.message)).toEqual(['boom on attempt 1', 'boom on attempt 2']);
    expect(failed.finished_at).toBeInstanceOf(Date);
    // Worker was told the job is done: nothing of it is left in Graphile Worker's queue.
    const left = await t.pool.query(
      'select count(*)::int as n from graphile_worker.jobs where id = $1',
      [failed.gw_job_id],
    );
    expect(left.rows[0].n).toBe(0);

    const transitions = transitionTimeline(await jobdeck.getJobEvents(job.id));
    expect(transitions).toEqual([
      'queued',
      'running (attempt 1)',
      'retrying: boom on attempt 1',
      'running (attempt 2)',
      'failed: boom on attempt 2',
    ]);
  });

  it('succeeds on a later attempt, keeping the earlier errors', async () => {
    const job = await jobdeck.enqueueJob('flaky', { failTimes: 1 }, { maxAttempts: 3 });
    const worker = await runTestWorker(t, tasks);
    const retrying = await waitForStatus(jobdeck, job.id, 'retrying');
    await runRetryNow(retrying.gw_job_id);
    const done = await waitForStatus(jobdeck, job.id, 'succeeded');
    await worker.stop();
    expect(done).toMatchObject({ attempts: 2, result: { attempt: 2 }, progress: 100 });
    expect(done.errors).toHaveLength(1);
  });

  it('fails at once, without retry, on PermanentJobError', async () => {
    const job = await jobdeck.enqueueJob('permanent');
    const worker = await runTestWorker(t, tasks);
    const failed = await waitForStatus(jobdeck, job.id, 'failed');
    await worker.stop();
    expect(failed.attempts).toBe(1);
    expect(failed.max_attempts).toBe(5);
    expect(failed.errors).toEqual([
      expect.objectContaining({
        message: 'the file does not exist',
        permanent: true,
        name: 'PermanentJobError',
      }),
    ]);
  });

  it('fails without retry when a job reaches the worker with a payload its task rejects', async () => {
    // Straight into Graphile Worker, bypassing enqueue's check (as an old client might).
    const { rows } = await t.pool.query<{ id: string }>(
      `select (graphile_worker.add_job('typed', '{"n": "seven"}'::json)).id`,
    );
    const worker = await runTestWorker(t, tasks);
    const failed = await waitFor(async () => {
      const row = await t.db
        .selectFrom('jobdeck.jobs')
        .selectAll()
        .where('gw_job_id', '=', rows[0]!.id)
        .executeTakeFirst();
      return row?.status === 'failed' && row;
    });
    await worker.stop();
    expect(failed.errors[0]!.message).toMatch(
      /^invalid payload for job type "typed": payload\.n: /,
    );
    expect(failed.attempts).toBe(1);
  });
});
