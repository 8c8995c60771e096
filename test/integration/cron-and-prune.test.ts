import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defineTask } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import type { AnyTaskDefinition } from '../../src/jobs/task.ts';
import { pruneJobs } from '../../src/jobs/prune.ts';
import { InvalidArgumentError } from '../../src/errors.ts';
import { readCrontab } from '../../src/worker/runner.ts';
import { createJobdeck } from '../../src/client.ts';
import pruneTask from '../../tasks/prune_jobs.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  [
    'tick',
    defineTask({
      run: ({ payload }) => ({ cron: (payload as { _cron?: unknown })._cron ?? null }),
    }),
  ],
  ['prune_jobs', pruneTask],
]);

describe('cron and pruning', () => {
  let t: TestDatabase;

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, tasks);
  });
  afterEach(async () => {
    expect(await stopWorkers(), 'a test left a worker running').toBe(0);
  });
  afterAll(async () => {
    await t.drop();
  });

  it('tracks a cron run like any other job', { timeout: 90_000 }, async () => {
    // Cron has minute resolution: this waits for the next minute boundary (at most ~60 s).
    const worker = await runTestWorker(t, tasks, { crontab: '* * * * * tick' });
    const job = await waitFor(
      () =>
        t.db
          .selectFrom('jobdeck.jobs')
          .selectAll()
          .where('type', '=', 'tick')
          .where('status', '=', 'succeeded')
          .executeTakeFirst(),
      { timeoutMs: 75_000, intervalMs: 250, what: 'a cron run' },
    );
    await worker.stop();
    expect(job.metadata).toEqual({ source: 'cron' });
    expect(job.result).toEqual({ cron: { ts: expect.any(String), backfilled: false } });
    expect((job.payload as { _cron: unknown })._cron).toBeDefined();
  });

  it('refuses a crontab that names a task the worker does not have', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'jobdeck-cron-'));
    const file = path.join(dir, 'crontab');
    await writeFile(file, '0 * * * * no_such_task\n');
    expect(() => readCrontab(file, tasks)).toThrow(
      /names task "no_such_task", which is not in the tasks folder/,
    );
    await writeFile(file, 'every minute please tick\n');
    expect(() => readCrontab(file, tasks)).toThrow(/crontab/);
  });

  it('prunes finished jobs past retention, keeping failed ones longer and active ones always', async () => {
    const insert = (status: string, daysAgo: number) =>
      t.pool
        .query<{ id: string }>(
          `insert into jobdeck.jobs (type, status, created_at, finished_at)
         values ('tick', $1, now() - make_interval(days => $2 + 1),
                 case when $1 in ('succeeded', 'failed', 'cancelled') then now() - make_interval(days => $2) end)
         returning id`,
          [status, daysAgo],
        )
        .then((r) => r.rows[0]!.id);
    const oldOk = await insert('succeeded', 10);
    const newOk = await insert('succeeded', 1);
    const oldFailed = await insert('failed', 10);
    const ancientFailed = await insert('failed', 40);
    const ancientCancelled = await insert('cancelled', 40);
    const oldQueued = await insert('queued', 100);
    await t.pool.query(`insert into jobdeck.job_events (job_id, message) values ($1, 'bye')`, [
      oldOk,
    ]);

    const { deleted } = await pruneJobs(t.pool, { succeededDays: 7, failedDays: 30, batchSize: 1 });
    expect(deleted).toBe(3);
    const { rows } = await t.pool.query<{ id: string }>(
      `select id from jobdeck.jobs where id = any($1)`,
      [[oldOk, newOk, oldFailed, ancientFailed, ancientCancelled, oldQueued]],
    );
    expect(rows.map((r) => r.id).sort()).toEqual([newOk, oldFailed, oldQueued].sort());
    const events = await t.pool.query(
      `select count(*)::int as n from jobdeck.job_events where job_id = $1`,
      [oldOk],
    );
    expect(events.rows[0].n).toBe(0);

    await expect(pruneJobs(t.pool, { succeededDays: -1, failedDays: 30 })).rejects.toThrow(
      InvalidArgumentError,
    );
  });

  it('runs pruning as a tracked task (the one the crontab schedules)', async () => {
    await t.pool.query(
      `insert into jobdeck.jobs (type, status, finished_at) values ('tick', 'succeeded', now() - interval '400 days')`,
    );
    const jobdeck = createJobdeck({ pool: t.pool });
    const job = await jobdeck.enqueueJob('prune_jobs');
    const worker = await runTestWorker(t, tasks);
    const done = await waitForStatus(jobdeck, job.id, 'succeeded');
    await worker.stop();
    expect((done.result as { deleted: number }).deleted).toBeGreaterThanOrEqual(1);
    await jobdeck.close();
  });
});
