import type { AnyTaskDefinition } from '../../src/jobs/task.ts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { defineTask } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { PgListener } from '../../src/live/listener.ts';
import { loadJobChannels } from '../../src/live/channels.ts';
import { sleep } from '../../src/util/sleep.ts';
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
    'steps',
    defineTask({
      payload: z.object({ n: z.number().int(), pauseMs: z.number().int().default(40) }),
      async run({ payload, progress, log, step }) {
        await step('warm up');
        for (let i = 1; i <= 4; i++) {
          await progress({ completed: i, total: 4 }, `part ${i}`);
          if (i === 2) await log('info', 'halfway', { i });
          await sleep(payload.pauseMs);
        }
        return { doubled: payload.n * 2 };
      },
    }),
  ],
  ['untyped', defineTask({ run: ({ payload }) => ({ echoed: payload }) })],
]);

describe('a tracked job', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;
  let listener: PgListener;

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, tasks);
    jobdeck = createJobdeck({ connectionString: t.url });
    listener = new PgListener(t.url);
  });
  afterEach(async () => {
    expect(await stopWorkers(), 'a test left a worker running').toBe(0);
  });
  afterAll(async () => {
    await listener.close();
    await jobdeck.close();
    await t.drop();
  });

  it('goes queued → running → succeeded and announces each change over LISTEN', async () => {
    const job = await jobdeck.enqueueJob('steps', { n: 21 }, { ownerId: 'user-1', orgId: 'org-1' });
    expect(job).toMatchObject({
      type: 'steps',
      status: 'queued',
      progress: 0,
      attempts: 0,
      owner_id: 'user-1',
    });

    const channels = await loadJobChannels(t.pool);
    const onJob: string[] = [];
    const onOwner: string[] = [];
    const onOrg: string[] = [];
    await listener.subscribe(channels.job(job.id), (p) => onJob.push(p!));
    await listener.subscribe(channels.owner('org-1', 'user-1'), (p) => onOwner.push(p!));
    await listener.subscribe(channels.org('org-1'), (p) => onOrg.push(p!));

    const worker = await runTestWorker(t, tasks);
    const done = await waitForStatus(jobdeck, job.id, 'succeeded');
    await worker.stop();

    expect(done).toMatchObject({
      status: 'succeeded',
      progress: 100,
      attempts: 1,
      result: { doubled: 42 },
      completed_steps: 4,
      total_steps: 4,
      worker_id: worker.id,
      errors: [],
    });
    expect(done.started_at).toBeInstanceOf(Date);
    expect(done.finished_at!.getTime()).toBeGreaterThanOrEqual(done.started_at!.getTime());

    // Every change (running, progress, steps, succeeded) was announced, by the job's id alone.
    await waitFor(() => onJob.length >= 3 && onOwner.length >= 3 && onOrg.length >= 3);
    for (const payload of [...onJob, ...onOwner, ...onOrg])
      expect(JSON.parse(payload)).toEqual({ id: job.id });

    const events = await jobdeck.getJobEvents(job.id);
    expect(transitionTimeline(events)).toEqual(['queued', 'running (attempt 1)', 'succeeded']);
    const log = events.find((e) => e.kind === 'log');
    expect(log).toMatchObject({
      level: 'info',
      message: 'halfway',
      data: { i: 2 },
      step: 'part 2',
      attempt: 1,
    });
  });

  it('watchJob() yields the job as it changes and ends once it has finished', async () => {
    const job = await jobdeck.enqueueJob('steps', { n: 1, pauseMs: 80 });
    const worker = await runTestWorker(t, tasks);
    const seen = [];
    for await (const update of jobdeck.watchJob(job.id)) seen.push(update);
    await worker.stop();
    expect(seen[0]!.id).toBe(job.id);
    expect(seen.at(-1)).toMatchObject({ status: 'succeeded', progress: 100 });
    expect(seen.some((j) => j.status === 'running' && j.progress > 0 && j.progress < 100)).toBe(
      true,
    );
  });

  it('tracks a job added with plain graphile_worker.add_job on its first run', async () => {
    const { rows } = await t.pool.query<{ id: string }>(
      `select (graphile_worker.add_job('untyped', '{"hello": "world"}'::json, max_attempts => 2)).id`,
    );
    const gwJobId = rows[0]!.id;
    const worker = await runTestWorker(t, tasks);
    const tracked = await waitFor(async () => {
      const row = await t.db
        .selectFrom('jobdeck.jobs')
        .selectAll()
        .where('gw_job_id', '=', gwJobId)
        .executeTakeFirst();
      return row?.status === 'succeeded' && row;
    });
    await worker.stop();
    expect(tracked).toMatchObject({
      type: 'untyped',
      payload: { hello: 'world' },
      result: { echoed: { hello: 'world' } },
      attempts: 1,
      max_attempts: 2,
      metadata: { source: 'graphile_worker' },
    });
  });

  it('keeps the worker running when a task reports bad progress, failing only that attempt', async () => {
    const bad: TaskRegistry = new Map<string, AnyTaskDefinition>([
      ['bad_progress', defineTask({ maxAttempts: 1, run: ({ progress }) => progress(150) })],
    ]);
    await registerTasks(t, bad);
    const job = await jobdeck.enqueueJob('bad_progress');
    const worker = await runTestWorker(t, bad);
    const failed = await waitForStatus(jobdeck, job.id, 'failed');
    await worker.stop();
    expect(failed.errors[0]!.message).toBe('progress must be a number from 0 to 100, got 150');
  });
});
