import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { sleep } from '../../src/util/sleep.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

let signalSeen: string | null = null;

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  [
    'instant',
    defineTask({
      async run({ progress }) {
        await progress(50, 'half');
        return { ok: true };
      },
    }),
  ],
  [
    'waits',
    defineTask({
      async run({ signal, progress }) {
        await progress(30, 'waiting');
        try {
          await sleep(60_000, signal);
        } finally {
          signalSeen = signal.aborted ? String((signal.reason as Error).name) : null;
        }
      },
    }),
  ],
  [
    'fails_once',
    defineTask({
      maxAttempts: 2,
      backoff: ['0s'],
      run({ attempt }) {
        if (attempt === 1) throw new Error('first attempt fails');
        return { attempt };
      },
    }),
  ],
]);

const FAST = { heartbeatIntervalMs: 100, rescueAfterMs: 1000, shutdownTimeoutMs: 200 };

/**
 * The worker's fast path (migration 000005, docs/performance.md): starts that only read, running
 * marks written a little later (or merged into the finish), finishes the task does not wait
 * for, and orphaned jobs requeued.
 */
describe('the fast path', () => {
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

  async function transitions(id: string): Promise<{ message: string; data: unknown }[]> {
    const { rows } = await t.pool.query<{ message: string; data: unknown }>(
      `select message, data from jobdeck.job_events where job_id = $1 and kind = 'transition' order by id`,
      [id],
    );
    return rows;
  }

  it('writes a job that ends before its mark once, with one transition that carries its start, and one attempt', async () => {
    const worker = await runTestWorker(t, tasks, { config: { ...FAST, markDelayMs: 60_000 } });
    const job = await jobdeck.enqueueJob('instant', {});
    const done = await waitForStatus(jobdeck, job.id, 'succeeded');
    await worker.stop();

    expect(done).toMatchObject({ attempts: 1, progress: 100, current_step: 'half' });
    expect(done.started_at).not.toBeNull();
    expect(done.started_at!.getTime()).toBeLessThanOrEqual(done.finished_at!.getTime());
    // The attempt was never seen running, so its start rides on its end (no `running` event).
    const recorded = await transitions(job.id);
    expect(recorded).toEqual([
      { message: 'queued', data: null },
      {
        message: 'succeeded',
        data: { from: 'running', to: 'succeeded', startedAt: expect.any(String) },
      },
    ]);
    const startedAt = (recorded[1]!.data as { startedAt: string }).startedAt;
    expect(new Date(startedAt)).toEqual(done.started_at);
    const { rows } = await t.pool.query(
      `select h.attempt, h.outcome, h.started_at from jobdeck.jobs j, jobdeck.jobs_attempt_history(j) h where j.id = $1`,
      [job.id],
    );
    expect(rows).toEqual([{ attempt: 1, outcome: 'succeeded', started_at: done.started_at }]);
  });

  it('records each unmarked attempt of a retried job', async () => {
    const worker = await runTestWorker(t, tasks, { config: { ...FAST, markDelayMs: 60_000 } });
    const job = await jobdeck.enqueueJob('fails_once', {});
    const done = await waitForStatus(jobdeck, job.id, 'succeeded');
    await worker.stop();

    expect(done).toMatchObject({ attempts: 2, result: { attempt: 2 } });
    expect(done.errors).toHaveLength(1);
    const { rows } = await t.pool.query(
      `select h.attempt, h.outcome from jobdeck.jobs j, jobdeck.jobs_attempt_history(j) h where j.id = $1`,
      [job.id],
    );
    expect(rows).toEqual([
      { attempt: 1, outcome: 'retrying' },
      { attempt: 2, outcome: 'succeeded' },
    ]);
  });

  it('marks a longer job running after the mark delay, with the progress it reported', async () => {
    const worker = await runTestWorker(t, tasks, { config: { ...FAST, markDelayMs: 50 } });
    const job = await jobdeck.enqueueJob('waits', {});
    const running = await waitForStatus(jobdeck, job.id, 'running');
    expect(running).toMatchObject({ attempts: 1, progress: 30, current_step: 'waiting' });
    expect(running.worker_id).toBe(worker.id);
    await jobdeck.cancelJob(job.id);
    await waitForStatus(jobdeck, job.id, 'cancelled');
    await worker.stop();
    expect(signalSeen).toBe('JobCancelledError');
  });

  it('cancels a job that runs but is not marked yet: the task is aborted and nothing is overwritten', async () => {
    signalSeen = null;
    const worker = await runTestWorker(t, tasks, { config: { ...FAST, markDelayMs: 60_000 } });
    const job = await jobdeck.enqueueJob('waits', {});
    // Running in the worker, still `queued` in the row.
    await waitFor(async () => (await transitions(job.id)).length === 1 && sleep(200).then(() => 1));
    expect((await jobdeck.getJob(job.id)).status).toBe('queued');
    await jobdeck.cancelJob(job.id, 'changed my mind');
    await waitFor(() => signalSeen !== null, { what: 'the task to see its signal abort' });
    expect(signalSeen).toBe('JobCancelledError');
    await worker.stop();
    expect(await jobdeck.getJob(job.id)).toMatchObject({
      status: 'cancelled',
      cancel_reason: 'changed my mind',
    });
  });

  it('lets a cancel that commits while a finish waits for the row decide the outcome', async () => {
    const later = { runAt: new Date(Date.now() + 3_600_000) };
    const finish = (job: { id: string; gw_job_id: string | null }) =>
      t.pool.query<{ id: string; status: string }>(
        'select * from jobdeck_private.finish_jobs($1::jsonb, $2)',
        [
          JSON.stringify([
            {
              id: job.id,
              gw_job_id: job.gw_job_id,
              started_at: new Date().toISOString(),
              attempt: 1,
              outcome: 'error',
              retryable: true,
              error: { message: 'boom', attempt: 1 },
            },
          ]),
          'w-race',
        ],
      );
    // Marked running on w-race, and waiting (its attempt not marked yet).
    const marked = await jobdeck.enqueueJob('instant', {}, later);
    await t.pool.query('select * from jobdeck_private.mark_running($1::jsonb, $2)', [
      JSON.stringify([
        { id: marked.id, gw_job_id: marked.gw_job_id, attempt: 1, started_at: new Date() },
      ]),
      'w-race',
    ]);
    const waiting = await jobdeck.enqueueJob('instant', {}, later);

    for (const job of [marked, waiting]) {
      const canceller = await t.pool.connect();
      try {
        await canceller.query('begin');
        await canceller.query('select jobdeck.cancel_job($1)', [job.id]);
        const finishing = finish(job);
        let settled = false;
        void finishing.then(() => (settled = true));
        await sleep(200);
        expect(settled, 'the finish waits for the cancel to commit').toBe(false);
        await canceller.query('commit');
        const { rows } = await finishing;
        // The marked attempt ends cancelled, not retrying; the waiting one was cancelled outright
        // and its late finish changes nothing.
        expect(rows).toEqual(job === marked ? [{ id: job.id, status: 'cancelled' }] : []);
      } finally {
        canceller.release();
      }
      const row = await jobdeck.getJob(job.id);
      expect(row).toMatchObject({ status: 'cancelled' });
    }
  });

  it('requeues a waiting job whose Graphile job is gone (a worker died after Worker completed it)', async () => {
    const job = await jobdeck.enqueueJob(
      'instant',
      {},
      { runAt: new Date(Date.now() + 3_600_000) },
    );
    // What a crash between Worker's completion and the finish leaves behind.
    await t.pool.query('select graphile_worker.complete_jobs(array[$1::bigint])', [job.gw_job_id]);
    await t.pool.query(`update jobdeck.jobs set run_at = now() where id = $1`, [job.id]);

    const worker = await runTestWorker(t, tasks, { config: FAST });
    const done = await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 30_000 });
    await worker.stop();
    expect(done.gw_job_id).not.toBe(job.gw_job_id);
    const { rows } = await t.pool.query<{ message: string }>(
      `select message from jobdeck.job_events where job_id = $1 and kind = 'control'`,
      [job.id],
    );
    expect(rows.map((r) => r.message)).toEqual([
      'requeued: its Graphile Worker job was gone (a worker stopped before recording the outcome)',
    ]);
  });

  it('finds orphans page by page, so a sweep of a large backlog costs a bounded amount', async () => {
    const later = new Date(Date.now() + 3_600_000);
    const jobs = await jobdeck.enqueueJobs(
      Array.from({ length: 12 }, () => ({ type: 'instant', runAt: later })),
    );
    const orphaned = [jobs[2]!, jobs[9]!];
    await t.pool.query('select graphile_worker.complete_jobs($1::bigint[])', [
      orphaned.map((j) => j.gw_job_id),
    ]);
    const found: string[] = [];
    let cursor: { created: string | null; id: string | null } = { created: null, id: null };
    let pages = 0;
    do {
      const { rows } = await t.pool.query<{
        id: string | null;
        next_created: string | null;
        next_id: string | null;
      }>('select * from jobdeck_private.orphaned_jobs($1, $2, 5)', [cursor.created, cursor.id]);
      found.push(...rows.flatMap((r) => (r.id ? [r.id] : [])));
      cursor = { created: rows[0]!.next_created, id: rows[0]!.next_id };
      pages += 1;
    } while (cursor.created && pages < 20);
    expect(found.sort()).toEqual(orphaned.map((j) => j.id).sort());
    expect(pages).toBeGreaterThanOrEqual(3);
    await t.pool.query(
      `update jobdeck.jobs set status = 'cancelled', finished_at = now() where id = any($1::uuid[])`,
      [jobs.map((j) => j.id)],
    );
  });

  it('keeps working when its connections are cut mid-drain: nothing is lost', async () => {
    const worker = await runTestWorker(t, tasks, { config: FAST });
    const jobs = await jobdeck.enqueueJobs(
      Array.from({ length: 400 }, () => ({ type: 'instant' })),
    );
    for (let cut = 0; cut < 3; cut++) {
      await sleep(40);
      await t.pool.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
          where datname = current_database()
            and application_name in ('jobdeck-worker', 'jobdeck-main', 'jobdeck-listener')`,
      );
    }
    const counts = async () => {
      const { rows } = await t.pool.query<{ n: number }>(
        `select count(*)::int as n from jobdeck.jobs where id = any($1::uuid[]) and status = 'succeeded'`,
        [jobs.map((j) => j.id)],
      );
      return rows[0]!.n;
    };
    await waitFor(async () => (await counts()) === jobs.length, {
      timeoutMs: 60_000,
      what: 'every job to succeed',
    });
    // Still at work afterwards.
    const after = await jobdeck.enqueueJob('instant', {});
    await waitForStatus(jobdeck, after.id, 'succeeded', { timeoutMs: 30_000 });
    await worker.stop();
  });

  it('has every finish committed once the worker has stopped', async () => {
    const worker = await runTestWorker(t, tasks, { config: FAST });
    const jobs = await jobdeck.enqueueJobs(
      Array.from({ length: 200 }, () => ({ type: 'instant' })),
    );
    await waitFor(async () => {
      const { rows } = await t.pool.query<{ n: number }>(
        `select count(*)::int as n from graphile_worker.jobs where id = any($1::bigint[])`,
        [jobs.map((j) => j.gw_job_id)],
      );
      return rows[0]!.n === 0;
    });
    await worker.stop();
    const { rows } = await t.pool.query<{ status: string; n: number }>(
      `select status, count(*)::int as n from jobdeck.jobs where id = any($1::uuid[]) group by status`,
      [jobs.map((j) => j.id)],
    );
    expect(rows).toEqual([{ status: 'succeeded', n: 200 }]);
  });

  it('plans the job path once per connection (000007), including functions a later migration redefined', async () => {
    // `create or replace function` drops a SET clause the new text does not repeat: a migration
    // that redefines one of these must keep `set plan_cache_mode = force_generic_plan`.
    const { rows } = await t.pool.query<{ fn: string; generic: boolean }>(
      `select p.oid::regprocedure::text as fn,
              coalesce('plan_cache_mode=force_generic_plan' = any(p.proconfig), false) as generic
         from pg_proc p
        where (p.pronamespace = 'jobdeck'::regnamespace
               and p.proname in ('enqueue', 'enqueue_many', 'enqueue_job', 'cancel_job', 'retry_job'))
           or (p.pronamespace = 'jobdeck_private'::regnamespace
               and p.proname in ('enqueue', 'enqueue_many', 'begin_jobs', 'start_jobs', 'mark_running',
                                 'finish_jobs', 'heartbeat', 'requeue_orphans', 'cancel_job', 'retry_job'))
        order by 1`,
    );
    expect(rows).toHaveLength(15);
    expect(rows.filter((row) => !row.generic).map((row) => row.fn)).toEqual([]);
  });
});
