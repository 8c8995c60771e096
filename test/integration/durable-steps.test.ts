import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { countJobOutcomesSince } from '../../src/jobs/monitoring.ts';
import { loadTasks, type TaskRegistry } from '../../src/jobs/registry.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import { ROOT } from '../helpers/cli.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

/** Steps whose functions count their runs in memory (the tasks run in this process). */
const runs = new Map<string, number>();
const ran = (key: string) => runs.set(key, (runs.get(key) ?? 0) + 1);

const inline = new Map<string, AnyTaskDefinition>([
  [
    'big_step',
    defineTask({
      async run({ step }) {
        await step('small', () => 'ok');
        await step('huge', () => 'x'.repeat(2000));
      },
    }),
  ],
  [
    'twice',
    defineTask({
      async run({ step }) {
        await step('same', () => 1);
        await step('same', () => 2);
      },
    }),
  ],
  [
    'napper',
    defineTask({
      maxAttempts: 1,
      async run({ job, step, sleep }) {
        const before = await step('before', () => (ran(`${job.id}:before`), 'b'));
        await sleep('1500ms');
        const after = await step('after', () => (ran(`${job.id}:after`), 'a'));
        return { before, after };
      },
    }),
  ],
  [
    'quick',
    defineTask({
      async run({ job }) {
        ran(`quick:${job.id}`);
        return 'quick';
      },
    }),
  ],
  [
    'waiter',
    defineTask({
      maxAttempts: 1,
      payload: undefined,
      async run({ job, step, waitFor: wait, payload }) {
        await step('ready', () => (ran(`${job.id}:ready`), true));
        const timeout = (payload as { timeout?: string } | null)?.timeout ?? '1h';
        try {
          const data = await wait<{ ok: boolean }>('approved', { timeout });
          return { data };
        } catch (error) {
          if ((error as Error).name === 'WaitTimeoutError')
            return { timedOut: true, message: (error as Error).message };
          throw error;
        }
      },
    }),
  ],
]);

describe('durable steps', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;
  let tasks: TaskRegistry;

  beforeAll(async () => {
    t = await createTestDatabase();
    const fixtures = await loadTasks(path.join(ROOT, 'test/fixtures/tasks'));
    tasks = new Map([
      ...[...fixtures].filter(([type]) => type === 'durable_steps' || type === 'steps_isolated'),
      ...inline,
    ]);
    await registerTasks(t, tasks);
    await t.pool.query(
      'create table step_runs (job_id uuid, step int, attempt int, hang boolean default false)',
    );
    jobdeck = createJobdeck({ connectionString: t.url });
  });
  afterEach(async () => {
    expect(await stopWorkers()).toBe(0);
  });
  afterAll(async () => {
    await jobdeck?.close();
    await t?.drop();
  });

  async function stepRuns(jobId: string): Promise<Record<number, number>> {
    const { rows } = await t.pool.query<{ step: number; n: number }>(
      'select step, count(*)::int as n from step_runs where job_id = $1 and not hang group by step',
      [jobId],
    );
    return Object.fromEntries(rows.map((r) => [r.step, r.n]));
  }

  it('returns completed steps from the store on a retry: a failure in step 3 reruns only step 3 on', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const job = await jobdeck.enqueueJob('durable_steps', { failAt: 3 });
      const done = await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 30_000 });
      expect(done.result).toEqual({ results: [10, 20, 30, 40, 50] });
      expect(done.attempts).toBe(2);
      expect(done.errors).toHaveLength(1);
      expect(await stepRuns(job.id)).toEqual({ 1: 1, 2: 1, 3: 2, 4: 1, 5: 1 });
      expect(done).toMatchObject({ total_steps: 5, completed_steps: 5, current_step: 'step-5' });
      const steps = await jobdeck.getJobSteps(job.id);
      expect(steps.map((s) => [s.name, s.result, s.attempt])).toEqual([
        ['step-1', 10, 1],
        ['step-2', 20, 1],
        ['step-3', 30, 2],
        ['step-4', 40, 2],
        ['step-5', 50, 2],
      ]);
    } finally {
      await worker.stop();
    }
  });

  it('runs every step again after a manual retry with keepSteps: false, none with the default', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const job = await jobdeck.enqueueJob('durable_steps', {});
      await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 30_000 });
      // Only failed or cancelled jobs can be retried: make it failed as an operator would see it.
      await t.pool.query(`update jobdeck.jobs set status = 'failed' where id = $1`, [job.id]);
      await jobdeck.retryJob(job.id);
      await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 30_000 });
      expect(await stepRuns(job.id)).toEqual({ 1: 1, 2: 1, 3: 1, 4: 1, 5: 1 });

      await t.pool.query(`update jobdeck.jobs set status = 'failed' where id = $1`, [job.id]);
      const retried = await jobdeck.retryJob(job.id, { keepSteps: false });
      expect(retried.status).toBe('queued');
      const done = await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 30_000 });
      expect(done.result).toEqual({ results: [10, 20, 30, 40, 50] });
      expect(await stepRuns(job.id)).toEqual({ 1: 2, 2: 2, 3: 2, 4: 2, 5: 2 });
      // From SQL too, keep_steps named
      await t.pool.query(`update jobdeck.jobs set status = 'failed' where id = $1`, [job.id]);
      // (read in the retry's own transaction: once it commits, a worker may store step 1 at once)
      const client = await t.pool.connect();
      try {
        await client.query('begin');
        await client.query('select jobdeck.retry_job($1::uuid, keep_steps => false)', [job.id]);
        const { rows } = await client.query<{ n: number }>(
          'select count(*)::int as n from jobdeck.job_steps where job_id = $1',
          [job.id],
        );
        expect(rows[0]!.n).toBe(0);
        await client.query('commit');
      } finally {
        client.release();
      }
      await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 30_000 });
    } finally {
      await worker.stop();
    }
  });

  it('fails a step whose result is over the size limit, naming the step and the limit', async () => {
    const worker = await runTestWorker(t, tasks, { config: { maxStepResultBytes: 1000 } });
    try {
      const job = await jobdeck.enqueueJob('big_step', {}, { maxAttempts: 3 });
      const failed = await waitForStatus(jobdeck, job.id, 'failed', { timeoutMs: 30_000 });
      expect(failed.attempts).toBe(1); // permanent: the same step would be as large again
      const error = failed.errors[0]!;
      expect(error.name).toBe('StepResultError');
      expect(error.message).toContain('step "huge"');
      expect(error.message).toContain('JOBDECK_MAX_STEP_RESULT_BYTES');
      expect((await jobdeck.getJobSteps(job.id)).map((s) => s.name)).toEqual(['small']);
    } finally {
      await worker.stop();
    }
  });

  it('refuses two steps of one name in one run, with a clear error', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const job = await jobdeck.enqueueJob('twice', {}, { maxAttempts: 3 });
      const failed = await waitForStatus(jobdeck, job.id, 'failed', { timeoutMs: 30_000 });
      expect(failed.attempts).toBe(1);
      expect(failed.errors[0]).toMatchObject({ name: 'DuplicateStepError', permanent: true });
      expect(failed.errors[0]!.message).toContain('step "same" ran twice');
    } finally {
      await worker.stop();
    }
  });

  it('memoizes steps of a task with limits, run in its own process, and wakes its wait', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const job = await jobdeck.enqueueJob('steps_isolated', {});
      const done = await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 60_000 });
      const result = done.result as { a: { pid: number }; b: number; c: number; pid: number };
      expect(result).toMatchObject({ b: 2, c: 3 });
      // Step one's stored result, from the first attempt's process
      expect(result.a.pid).not.toBe(result.pid);
      expect(result.pid).not.toBe(process.pid);
      expect(await stepRuns(job.id)).toEqual({ 1: 1, 2: 2, 3: 1 });

      const waiting = await jobdeck.enqueueJob('steps_isolated', { wait: true });
      await waitFor(async () => {
        const steps = await jobdeck.getJobSteps(waiting.id);
        return steps.some((s) => s.kind === 'wait' && s.completed_at === null);
      });
      const parked = await waitForStatus(jobdeck, waiting.id, 'queued');
      expect(parked.current_step).toBe('wait-go-1');
      await jobdeck.signal(waiting.id, 'go', { from: 'test' });
      const woken = await waitForStatus(jobdeck, waiting.id, 'succeeded', { timeoutMs: 60_000 });
      expect((woken.result as { signalled: unknown }).signalled).toEqual({ from: 'test' });
    } finally {
      await worker.stop();
    }
  });

  it('parks a sleeping job without holding its slot, and resumes it after its completed steps', async () => {
    const worker = await runTestWorker(t, tasks, { config: { concurrency: 1 } });
    try {
      const job = await jobdeck.enqueueJob('napper', {});
      const parked = await waitFor(async () => {
        const state = await jobdeck.getJob(job.id);
        return state.status === 'queued' && state.current_step === 'sleep-1' && state;
      });
      expect(parked.attempts).toBe(0); // parking spends no attempt
      expect(parked.run_at.getTime()).toBeGreaterThan(Date.now() - 1000);
      // The one slot is free: another job runs while the first sleeps
      const other = await jobdeck.enqueueJob('quick', {});
      await waitForStatus(jobdeck, other.id, 'succeeded');
      expect((await jobdeck.getJob(job.id)).status).not.toBe('succeeded');

      const done = await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 30_000 });
      expect(done.result).toEqual({ before: 'b', after: 'a' });
      expect(done.attempts).toBe(1); // maxAttempts 1, and it still succeeded: no attempt spent
      expect(done.errors).toEqual([]);
      expect(runs.get(`${job.id}:before`)).toBe(1);
      expect(runs.get(`${job.id}:after`)).toBe(1);
      const events = await jobdeck.getJobEvents(job.id);
      expect(events.some((e) => e.message.startsWith('parked: sleeping until'))).toBe(true);
      // (A 'queued again: parked …' transition too, unless the attempt parked before its running
      // mark was written: then the row went from queued to queued, no transition.)
      expect(events.filter((e) => /^(retrying|failed)/.test(e.message))).toEqual([]);
      // Not a failure or a retry in the metrics' counts (jobdeck_jobs_*_total)
      const [outcomes] = await countJobOutcomesSince(jobdeck.db, '0').then((rows) =>
        rows.filter((r) => r.type === 'napper'),
      );
      expect([outcomes!.failed, outcomes!.retried, outcomes!.cancelled].map(Number)).toEqual([
        0, 0, 0,
      ]);
      const steps = await jobdeck.getJobSteps(job.id);
      expect(steps.map((s) => [s.name, s.kind])).toEqual([
        ['before', 'run'],
        ['sleep-1', 'sleep'],
        ['after', 'run'],
      ]);
      expect(steps.every((s) => s.completed_at !== null)).toBe(true);
    } finally {
      await worker.stop();
    }
  });

  it('wakes a waiting job with a signal from TypeScript (by key) and from SQL, and times out', async () => {
    const worker = await runTestWorker(t, tasks);
    const parkedOn = (id: string) =>
      waitFor(async () => {
        const state = await jobdeck.getJob(id);
        return state.status === 'queued' && state.current_step === 'wait-approved-1' && state;
      });
    try {
      const byKey = await jobdeck.enqueueJob('waiter', {}, { key: 'approval-42' });
      const parked = await parkedOn(byKey.id);
      expect(parked.attempts).toBe(0);
      expect(parked.run_at.getTime()).toBeGreaterThan(Date.now() + 30 * 60_000);
      expect(await jobdeck.signal('approval-42', 'approved', { ok: true })).toBe(byKey.id);
      const done = await waitForStatus(jobdeck, byKey.id, 'succeeded', { timeoutMs: 30_000 });
      expect(done.result).toEqual({ data: { ok: true } });
      expect(done.attempts).toBe(1);
      expect(runs.get(`${byKey.id}:ready`)).toBe(1);

      const fromSql = await jobdeck.enqueueJob('waiter', {});
      await parkedOn(fromSql.id);
      await t.pool.query(`select jobdeck.signal($1, 'approved', '{"ok": false}')`, [fromSql.id]);
      const done2 = await waitForStatus(jobdeck, fromSql.id, 'succeeded', { timeoutMs: 30_000 });
      expect(done2.result).toEqual({ data: { ok: false } });

      // A signal sent before the job waits is kept for it
      const early = await jobdeck.enqueueJob('waiter', {}, { runAt: new Date(Date.now() + 500) });
      await jobdeck.signal(early.id, 'approved', { ok: 'early' });
      const done3 = await waitForStatus(jobdeck, early.id, 'succeeded', { timeoutMs: 30_000 });
      expect(done3.result).toEqual({ data: { ok: 'early' } });

      const late = await jobdeck.enqueueJob('waiter', { timeout: '1s' });
      const timedOut = await waitForStatus(jobdeck, late.id, 'succeeded', { timeoutMs: 30_000 });
      expect(timedOut.result).toMatchObject({ timedOut: true });
      expect((timedOut.result as { message: string }).message).toContain('"approved"');
      const wait = (await jobdeck.getJobSteps(late.id)).find((s) => s.kind === 'wait')!;
      expect(wait).toMatchObject({ timed_out: true, wait_event: 'approved' });

      await expect(jobdeck.signal(done.id, 'approved')).rejects.toMatchObject({
        name: 'InvalidJobStateError',
      });
      await expect(jobdeck.signal('no-such-key', 'approved')).rejects.toMatchObject({
        name: 'JobNotFoundError',
      });
    } finally {
      await worker.stop();
    }
  });
});
