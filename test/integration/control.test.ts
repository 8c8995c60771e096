import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { isTransientError } from '../../src/jobs/policy.ts';
import {
  InvalidArgumentError,
  InvalidJobStateError,
  JobNotFoundError,
  PermanentJobError,
} from '../../src/errors.ts';
import { sleep } from '../../src/util/sleep.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

/** Runs until its signal aborts (then throws the reason), or `ms` passes; `ignore` skips the signal. */
const untilAborted = defineTask({
  payload: z.object({ ms: z.number().int().default(60_000), ignore: z.boolean().default(false) }),
  async run({ payload, signal }) {
    if (payload.ignore) {
      await sleep(payload.ms);
      return { finished: true };
    }
    await sleep(payload.ms, signal);
    signal.throwIfAborted();
    return { finished: true };
  },
});

let allowPass = false;
let blockRuns = true;

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  ['until_aborted', untilAborted],
  [
    'http_call',
    defineTask({
      payload: z.object({ status: z.number().int() }),
      maxAttempts: 5,
      backoff: ['1h'],
      isRetryable: isTransientError,
      run({ payload }) {
        throw Object.assign(new Error(`upstream answered ${payload.status}`), {
          status: payload.status,
        });
      },
    }),
  ],
  [
    'gated',
    defineTask({
      run() {
        if (!allowPass) throw new PermanentJobError('the gate is closed');
        return { passed: true };
      },
    }),
  ],
  [
    'slow',
    defineTask({
      timeout: '150ms',
      maxAttempts: 2,
      backoff: ['0s'],
      async run({ signal }) {
        await sleep(60_000, signal);
        signal.throwIfAborted();
      },
    }),
  ],
  [
    'blocker',
    defineTask({
      async run({ signal }) {
        while (blockRuns) {
          await sleep(20, signal);
          signal.throwIfAborted();
        }
        return { ran: true };
      },
    }),
  ],
  [
    'flaky',
    defineTask({
      maxAttempts: 2,
      backoff: ['0s'],
      run({ attempt }) {
        throw new Error(`attempt ${attempt} failed`);
      },
    }),
  ],
  ['quick', defineTask({ run: ({ payload }) => payload })],
  [
    'stepped',
    defineTask({
      async run({ progress }) {
        await progress({ completed: 1, total: 4 }, 'reading');
        await sleep(300);
        await progress({ completed: 2, total: 4 }, 'writing');
        await sleep(100);
        return { ok: true };
      },
    }),
  ],
]);

const FAST = {
  heartbeatIntervalMs: 100,
  rescueAfterMs: 1000,
  cancelGraceMs: 300,
  shutdownTimeoutMs: 200,
};

describe('job control', () => {
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

  async function gwJobCount(gwJobId: string | null): Promise<number> {
    const { rows } = await t.pool.query<{ n: number }>(
      'select count(*)::int as n from graphile_worker.jobs where id = $1',
      [gwJobId],
    );
    return rows[0]!.n;
  }

  async function messages(id: string): Promise<string[]> {
    return (await jobdeck.getJobEvents(id)).map((e) => e.message);
  }

  it('listens for cancels again after its LISTEN connection drops (no heartbeat needed)', async () => {
    // A heartbeat a minute away: only the re-established LISTEN can deliver the cancel in time.
    const worker = await runTestWorker(t, tasks, {
      config: { ...FAST, heartbeatIntervalMs: 60_000 },
    });
    const job = await jobdeck.enqueueJob('until_aborted', {});
    await waitForStatus(jobdeck, job.id, 'running');
    const listener = async () => {
      const { rows } = await t.pool.query<{ pid: number }>(
        `select pid from pg_stat_activity
          where datname = current_database() and application_name = 'jobdeck-listener'
            and query ilike 'listen%'`,
      );
      return rows.length === 1 ? rows[0]!.pid : null;
    };
    const before = await waitFor(listener, { what: 'the worker to listen' });
    await t.pool.query('select pg_terminate_backend($1)', [before]);
    await waitFor(
      async () => {
        const pid = await listener();
        return pid !== null && pid !== before;
      },
      { what: 'the worker to listen again on a new connection' },
    );
    await jobdeck.cancelJob(job.id, 'after the drop');
    await waitForStatus(jobdeck, job.id, 'cancelled', { timeoutMs: 5000 });
    await worker.stop();
  });

  it('cancels a queued job at once and takes it out of the queue; twice is harmless', async () => {
    const job = await jobdeck.enqueueJob('quick', {}, { runAt: new Date(Date.now() + 60_000) });
    expect(await gwJobCount(job.gw_job_id)).toBe(1);

    const cancelled = await jobdeck.cancelJob(job.id, 'not needed any more');
    expect(cancelled).toMatchObject({ status: 'cancelled', cancel_reason: 'not needed any more' });
    expect(cancelled.finished_at).toBeInstanceOf(Date);
    expect(await gwJobCount(job.gw_job_id)).toBe(0);

    const again = await jobdeck.cancelJob(job.id);
    expect(again.status).toBe('cancelled');
    expect(again.finished_at).toEqual(cancelled.finished_at);

    // The same from SQL.
    const other = await jobdeck.enqueueJob('quick', {}, { runAt: new Date(Date.now() + 60_000) });
    const { rows } = await t.pool.query('select status from jobdeck.cancel_job($1)', [other.id]);
    expect(rows[0].status).toBe('cancelled');
  });

  it('refuses to cancel a finished job, naming its state; unknown ids are not found', async () => {
    const worker = await runTestWorker(t, tasks, { config: FAST });
    const job = await jobdeck.enqueueJob('quick', { a: 1 });
    await waitForStatus(jobdeck, job.id, 'succeeded');
    await worker.stop();

    const error = await jobdeck.cancelJob(job.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidJobStateError);
    expect(error).toMatchObject({ status: 'succeeded', jobId: job.id });
    expect((error as Error).message).toContain('is succeeded and cannot be cancelled');
    await expect(t.pool.query('select jobdeck.cancel_job($1)', [job.id])).rejects.toMatchObject({
      code: 'JD011',
    });

    await expect(jobdeck.cancelJob(randomUUID())).rejects.toBeInstanceOf(JobNotFoundError);
    await expect(jobdeck.cancelJob('not-a-job-id')).rejects.toBeInstanceOf(JobNotFoundError);
    await expect(jobdeck.cancelJob(job.id, 42 as unknown as string)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(
      t.pool.query('select jobdeck.cancel_job($1, $2)', [job.id, 'x'.repeat(1001)]),
    ).rejects.toMatchObject({ code: 'JD004' });
  });

  it("aborts a running job's signal and records it cancelled, not failed", async () => {
    const worker = await runTestWorker(t, tasks, { config: FAST });
    const job = await jobdeck.enqueueJob('until_aborted', {});
    await waitForStatus(jobdeck, job.id, 'running');

    const started = performance.now();
    const requested = await jobdeck.cancelJob(job.id, 'user pressed stop');
    expect(requested.status).toBe('running');
    expect(requested.cancel_requested_at).toBeInstanceOf(Date);
    const done = await waitForStatus(jobdeck, job.id, 'cancelled');
    console.info(`cancel → cancelled in ${(performance.now() - started).toFixed(0)} ms`);
    await worker.stop();

    expect(done).toMatchObject({ cancel_reason: 'user pressed stop', errors: [], result: null });
    expect(await messages(job.id)).toEqual(
      expect.arrayContaining([
        'cancel requested: user pressed stop',
        'cancelled: user pressed stop',
      ]),
    );
    expect(await gwJobCount(done.gw_job_id)).toBe(0);
  });

  it('falls back to polling when the cancel notification is missed', async () => {
    const worker = await runTestWorker(t, tasks, { config: FAST });
    const job = await jobdeck.enqueueJob('until_aborted', {});
    await waitForStatus(jobdeck, job.id, 'running');
    // A cancel request written without NOTIFY, as if the notification had been lost.
    await t.pool.query(
      `update jobdeck.jobs set cancel_requested_at = now(), cancel_reason = 'polled' where id = $1`,
      [job.id],
    );
    const done = await waitForStatus(jobdeck, job.id, 'cancelled');
    await worker.stop();
    expect(done.cancel_reason).toBe('polled');
  });

  it('abandons a task that ignores its signal after the grace period, discarding its result', async () => {
    const worker = await runTestWorker(t, tasks, { config: FAST });
    const job = await jobdeck.enqueueJob('until_aborted', { ms: 1500, ignore: true });
    await waitForStatus(jobdeck, job.id, 'running');
    await jobdeck.cancelJob(job.id);
    const done = await waitForStatus(jobdeck, job.id, 'cancelled');
    expect(done.result).toBeNull();
    // The slot is free again while the abandoned task still runs.
    const next = await jobdeck.enqueueJob('quick', { next: true });
    await waitForStatus(jobdeck, next.id, 'succeeded');
    // When the abandoned task finally returns, nothing changes.
    await sleep(1600);
    await worker.stop();
    expect(await jobdeck.getJob(job.id)).toMatchObject({ status: 'cancelled', result: null });
  });

  it('retries a failed job by hand with a fresh attempt budget, keeping its history', async () => {
    allowPass = false;
    const worker = await runTestWorker(t, tasks, { config: FAST });
    const job = await jobdeck.enqueueJob('gated', {}, { maxAttempts: 3 });
    const failed = await waitForStatus(jobdeck, job.id, 'failed');
    expect(failed.attempts).toBe(1);
    expect(failed.errors[0]).toMatchObject({ message: 'the gate is closed', permanent: true });

    allowPass = true;
    const retried = await jobdeck.retryJob(job.id);
    expect(retried).toMatchObject({
      status: 'queued',
      attempts: 1,
      attempts_before_retry: 1,
      manual_retries: 1,
      finished_at: null,
    });
    const done = await waitForStatus(jobdeck, job.id, 'succeeded');
    await worker.stop();
    expect(done).toMatchObject({ attempts: 2, result: { passed: true } });
    expect(done.errors).toHaveLength(1);
    expect(await messages(job.id)).toContain('retried by hand with a fresh attempt budget');

    const again = await jobdeck.retryJob(job.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(InvalidJobStateError);
    expect((again as Error).message).toContain('is succeeded and cannot be retried');
    const queued = await jobdeck.enqueueJob('quick', {}, { runAt: new Date(Date.now() + 60_000) });
    await expect(jobdeck.retryJob(queued.id)).rejects.toMatchObject({ status: 'queued' });
    await expect(jobdeck.retryJob(randomUUID())).rejects.toBeInstanceOf(JobNotFoundError);

    // A cancelled job can be retried from SQL too.
    await jobdeck.cancelJob(queued.id);
    const { rows } = await t.pool.query('select status, attempts from jobdeck.retry_job($1)', [
      queued.id,
    ]);
    expect(rows[0]).toEqual({ status: 'queued', attempts: 0 });
    await jobdeck.cancelJob(queued.id);
  });

  it('numbers attempts uniquely across manual retries, each retry with a fresh budget', async () => {
    const worker = await runTestWorker(t, tasks, { config: FAST });
    const job = await jobdeck.enqueueJob('flaky', {});
    const first = await waitForStatus(jobdeck, job.id, 'failed');
    expect(first).toMatchObject({ attempts: 2, attempts_before_retry: 0 });
    await jobdeck.retryJob(job.id);
    // A fresh budget: two more attempts (3 and 4), not one, not none.
    const second = await waitFor(
      async () => {
        const row = await jobdeck.getJob(job.id);
        return row.status === 'failed' && row.attempts === 4 && row;
      },
      { what: 'the retried job to fail again' },
    );
    await worker.stop();
    expect(second.attempts_before_retry).toBe(2);
    expect(second.errors.map((e) => e.attempt)).toEqual([1, 2, 3, 4]);
    expect(second.errors.map((e) => e.message)).toEqual([
      'attempt 1 failed',
      'attempt 2 failed',
      'attempt 3 failed',
      'attempt 4 failed',
    ]);
    // An attempt ended before its running mark carries its start on its end event (startedAt).
    const { rows } = await t.pool.query<{ attempt: number; to: string; folded: boolean }>(
      `select attempt, data ->> 'to' as to, data ? 'startedAt' as folded from jobdeck.job_events
        where job_id = $1 and kind = 'transition' order by id`,
      [job.id],
    );
    const started = rows.filter((r) => r.to === 'running' || r.folded).map((r) => r.attempt);
    expect(started).toEqual([1, 2, 3, 4]);
    const ended = rows.filter((r) => r.to === 'retrying' || r.to === 'failed');
    expect(ended.map((r) => [r.attempt, r.to])).toEqual([
      [1, 'retrying'],
      [2, 'failed'],
      [3, 'retrying'],
      [4, 'failed'],
    ]);
  });

  it("classifies errors with the type's isRetryable and schedules retries on its backoff", async () => {
    const worker = await runTestWorker(t, tasks, { config: FAST });
    const notFound = await jobdeck.enqueueJob('http_call', { status: 404 });
    const unavailable = await jobdeck.enqueueJob('http_call', { status: 503 });
    const failed = await waitForStatus(jobdeck, notFound.id, 'failed');
    const retrying = await waitForStatus(jobdeck, unavailable.id, 'retrying');
    await worker.stop();

    expect(failed).toMatchObject({ attempts: 1, max_attempts: 5 });
    expect(failed.errors[0]).toMatchObject({ message: 'upstream answered 404', permanent: true });
    expect(retrying.errors[0]).toMatchObject({
      message: 'upstream answered 503',
      permanent: false,
    });
    // backoff ['1h']: the next attempt is an hour out, and that is where Worker's job waits.
    const delay = retrying.run_at.getTime() - Date.now();
    expect(delay).toBeGreaterThan(59 * 60_000);
    expect(delay).toBeLessThan(61 * 60_000);
    const { rows } = await t.pool.query<{ run_at: Date }>(
      'select run_at from graphile_worker.jobs where id = $1',
      [retrying.gw_job_id],
    );
    expect(rows[0]!.run_at.getTime()).toBe(retrying.run_at.getTime());
    expect(await messages(unavailable.id)).toContain('retrying: upstream answered 503');
    await jobdeck.cancelJob(unavailable.id);
  });

  it('computes list and exponential backoff delays in SQL', async () => {
    const delay = async (backoff: unknown, attempt: number) => {
      const { rows } = await t.pool.query<{ ms: number }>(
        `select extract(epoch from jobdeck_private.retry_delay($1::jsonb, $2)) * 1000 as ms`,
        [JSON.stringify(backoff), attempt],
      );
      return Math.round(Number(rows[0]!.ms));
    };
    const seeds = { delaysMs: [0, 60_000, 300_000, 900_000, 3_600_000], jitter: 0 };
    expect(
      await Promise.all([1, 2, 3, 4, 5, 6, 40].map((attempt) => delay(seeds, attempt))),
    ).toEqual([0, 60_000, 300_000, 900_000, 3_600_000, 3_600_000, 3_600_000]);
    const exponential = { baseMs: 1000, factor: 3, maxMs: 20_000, jitter: 0 };
    expect(await Promise.all([1, 2, 3, 4, 30000].map((a) => delay(exponential, a)))).toEqual([
      1000, 3000, 9000, 20_000, 20_000,
    ]);
    for (let i = 0; i < 20; i++) {
      const jittered = await delay({ ...exponential, jitter: 0.5 }, 2);
      expect(jittered).toBeGreaterThanOrEqual(1500);
      expect(jittered).toBeLessThanOrEqual(4500);
    }
  });

  it('fails an attempt that runs past its timeout as a timeout, retrying per policy', async () => {
    const worker = await runTestWorker(t, tasks, { config: FAST });
    const job = await jobdeck.enqueueJob('slow', {});
    const failed = await waitForStatus(jobdeck, job.id, 'failed');
    await worker.stop();
    expect(failed.attempts).toBe(2);
    expect(failed.errors).toHaveLength(2);
    for (const error of failed.errors) {
      expect(error).toMatchObject({ name: 'JobTimeoutError', timedOut: true, permanent: false });
      expect(error.message).toContain('150 ms timeout');
    }
  });

  it('puts running jobs back in the queue on shutdown without spending an attempt', async () => {
    blockRuns = true;
    const first = await runTestWorker(t, tasks, { config: FAST });
    const job = await jobdeck.enqueueJob('blocker', {});
    await waitForStatus(jobdeck, job.id, 'running');
    await first.stop();

    const requeued = await jobdeck.getJob(job.id);
    expect(requeued).toMatchObject({ status: 'queued', attempts: 0, errors: [] });
    expect(requeued.gw_job_id).not.toBeNull();
    expect(await messages(job.id)).toContain(
      'queued again: the attempt was interrupted by a worker shutdown',
    );

    blockRuns = false;
    const second = await runTestWorker(t, tasks, { config: FAST });
    const done = await waitForStatus(jobdeck, job.id, 'succeeded');
    await second.stop();
    expect(done).toMatchObject({ attempts: 1, result: { ran: true } });
  });

  it('takes priorities by name, delays and keys with keep or replace', async () => {
    const later = new Date(Date.now() + 3_600_000);
    const urgent = await jobdeck.enqueueJob('quick', {}, { priority: 'urgent', runAt: later });
    expect(urgent.priority).toBe(-20);
    expect(urgent.run_at.getTime()).toBe(later.getTime());
    await expect(
      jobdeck.enqueueJob('quick', {}, { priority: 'asap' as 'high' }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    const { rows } = await t.pool.query(`select jobdeck.priority('HIGH') as p`);
    expect(rows[0].p).toBe(-10);

    const key = `report-${randomUUID()}`;
    const a = await jobdeck.enqueueJob('quick', { v: 1 }, { key, runAt: later });
    const kept = await jobdeck.enqueueJob('quick', { v: 2 }, { key });
    expect(kept.id).toBe(a.id);
    expect(kept.payload).toEqual({ v: 1 });
    const replaced = await jobdeck.enqueueJob(
      'quick',
      { v: 3 },
      { key, keyMode: 'replace', priority: 'high', runAt: later },
    );
    expect(replaced).toMatchObject({ id: a.id, payload: { v: 3 }, priority: -10 });
    const gw = await t.pool.query('select priority from graphile_worker.jobs where id = $1', [
      replaced.gw_job_id,
    ]);
    expect(gw.rows[0].priority).toBe(-10);
    await expect(
      jobdeck.enqueueJob('quick', {}, { key, keyMode: 'merge' as 'keep' }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(
      jobdeck.enqueueJob('until_aborted', {}, { key, keyMode: 'replace' }),
    ).rejects.toThrow(/is held by job .* of type "quick"/);

    // Replace while the keyed job runs: it keeps running, the new job queues behind it.
    blockRuns = true;
    const runKey = `sync-${randomUUID()}`;
    const worker = await runTestWorker(t, tasks, { config: FAST });
    const running = await jobdeck.enqueueJob('blocker', {}, { key: runKey });
    await waitForStatus(jobdeck, running.id, 'running');
    const [behind] = await jobdeck.enqueueJobs([
      { type: 'blocker', key: runKey, keyMode: 'replace', runAt: later },
    ]);
    expect(behind!.id).not.toBe(running.id);
    expect((await jobdeck.getJob(running.id)).key).toBeNull();
    expect(behind!.key).toBe(runKey);
    blockRuns = false;
    await waitForStatus(jobdeck, running.id, 'succeeded');
    await worker.stop();
    for (const id of [urgent.id, a.id, behind!.id]) await jobdeck.cancelJob(id);
  });

  it('caps running jobs per organisation, letting other organisations through', async () => {
    const capped = new Map(tasks);
    let running = new Map<string, number>();
    const peak = new Map<string, number>();
    capped.set(
      'org_task',
      defineTask({
        orgConcurrency: 2,
        async run({ job }) {
          const org = job.org_id ?? '-';
          running.set(org, (running.get(org) ?? 0) + 1);
          peak.set(org, Math.max(peak.get(org) ?? 0, running.get(org)!));
          await sleep(120);
          running.set(org, running.get(org)! - 1);
        },
      }),
    );
    await registerTasks(t, capped);
    running = new Map();
    const worker = await runTestWorker(t, capped, { config: { ...FAST, concurrency: 8 } });
    const jobs = await jobdeck.enqueueJobs([
      ...Array.from({ length: 8 }, () => ({ type: 'org_task', orgId: 'acme' })),
      ...Array.from({ length: 3 }, () => ({ type: 'org_task', orgId: 'globex' })),
      { type: 'org_task' }, // no organisation: not capped
    ]);
    await waitFor(
      async () => {
        const states = await Promise.all(jobs.map((j) => jobdeck.getJob(j.id)));
        return states.every((j) => j.status === 'succeeded');
      },
      { timeoutMs: 20_000, what: 'all org jobs to succeed' },
    );
    await worker.stop();
    expect(peak.get('acme')).toBe(2);
    expect(peak.get('globex')).toBe(2);
    const held = await t.pool.query(
      `select count(distinct job_id)::int as n from jobdeck.job_events
        where message like 'held: organisation "acme"%'`,
    );
    expect(held.rows[0].n).toBeGreaterThan(0);
  });

  it('reports steps, an ETA from the progress rate or the type median, and resource use', async () => {
    const worker = await runTestWorker(t, tasks, { config: FAST });
    const first = await jobdeck.enqueueJob('stepped', {});
    const midway = await waitFor(async () => {
      const job = await jobdeck.getJob(first.id);
      return job.current_step === 'reading' && job;
    });
    expect(midway).toMatchObject({ progress: 25, completed_steps: 1, total_steps: 4 });
    expect(midway.eta_at!.getTime()).toBeGreaterThan(midway.started_at!.getTime());
    const done = await waitForStatus(jobdeck, first.id, 'succeeded');
    expect(done).toMatchObject({ progress: 100, completed_steps: 4, eta_at: null });
    expect(Number(done.peak_rss_bytes)).toBeGreaterThan(10 * 1024 * 1024);
    expect(done.cpu_ms).not.toBeNull();

    // With a median known, a job has an ETA from its start, before any progress.
    await t.pool.query('select jobdeck_private.refresh_type_stats()');
    const { rows } = await t.pool.query(
      `select median_ms from jobdeck_private.task_types where type = 'stepped'`,
    );
    expect(Number(rows[0].median_ms)).toBeGreaterThan(300);
    const second = await jobdeck.enqueueJob('stepped', {});
    const started = await waitForStatus(jobdeck, second.id, 'running');
    expect(started.eta_at).not.toBeNull();
    await waitForStatus(jobdeck, second.id, 'succeeded');
    await worker.stop();
  });

  it('summarises jobs in one stats read', async () => {
    const stats = await jobdeck.jobStats({ since: new Date(Date.now() - 3_600_000) });
    const { rows } = await t.pool.query<{ status: string; n: number }>(
      `select status, count(*)::int as n from jobdeck.jobs group by status`,
    );
    const counts = Object.fromEntries(rows.map((r) => [r.status, r.n]));
    for (const status of ['queued', 'succeeded', 'failed', 'cancelled'] as const)
      expect(stats.byStatus[status]).toBe(counts[status] ?? 0);
    const quick = stats.byType.find((s) => s.type === 'quick')!;
    expect(quick.succeeded).toBeGreaterThan(0);
    expect(quick.p50Ms).not.toBeNull();
    expect(stats.queue.depth).toBe((counts.queued ?? 0) + (counts.retrying ?? 0));
    expect(stats.throughput.bucketSeconds).toBe(60);
    expect(stats.throughput.series.length).toBeGreaterThan(0);

    const onlyHttp = await jobdeck.jobStats({ type: 'http_call' });
    expect(onlyHttp.byType.map((s) => s.type)).toEqual(['http_call']);
    expect(onlyHttp.byType[0]!.failed).toBe(1);
    await expect(jobdeck.jobStats({ since: 'yesterday-ish' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(jobdeck.jobStats({ since: new Date(Date.now() + 60_000) })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });

  describe('edge cases in the SQL write path', () => {
    /** A row as if worker `w` were running attempt 1 of it. */
    async function runningRow(worker: string, extra = ''): Promise<string> {
      const { rows } = await t.pool.query<{ id: string }>(
        `insert into jobdeck.jobs (type, status, attempts, max_attempts, started_at, worker_id ${extra ? ', org_id' : ''})
         values ('quick', 'running', 1, 3, now(), $1 ${extra ? ', $2' : ''}) returning id`,
        extra ? [worker, extra] : [worker],
      );
      return rows[0]!.id;
    }
    const finish = (items: object[], worker: string) =>
      t.pool.query<{ id: string; status: string }>(
        'select * from jobdeck_private.finish_jobs($1::jsonb, $2)',
        [JSON.stringify(items), worker],
      );

    it('ignores a finish from another worker or attempt, and cancels an interrupted job with a cancel request', async () => {
      const id = await runningRow('w-edge');
      expect((await finish([{ id, attempt: 1, outcome: 'succeeded' }], 'w-other')).rows).toEqual(
        [],
      );
      expect((await finish([{ id, attempt: 2, outcome: 'succeeded' }], 'w-edge')).rows).toEqual([]);
      await t.pool.query(`update jobdeck.jobs set cancel_requested_at = now() where id = $1`, [id]);
      const done = await finish([{ id, attempt: 1, outcome: 'interrupted' }], 'w-edge');
      expect(done.rows).toEqual([{ id, status: 'cancelled' }]);
    });

    it('tells a worker which of its jobs it lost, and which have a cancel request', async () => {
      const mine = await runningRow('w-beat');
      const cancelled = await runningRow('w-beat');
      const taken = await runningRow('w-someone-else');
      await t.pool.query(`update jobdeck.jobs set cancel_requested_at = now() where id = $1`, [
        cancelled,
      ]);
      const info = { hostname: 'h', pid: 1, concurrency: 1, taskTypes: ['quick'] };
      const { rows } = await t.pool.query<{ id: string; lost: boolean }>(
        'select id, lost from jobdeck_private.heartbeat($1, $2::jsonb, $3::uuid[], null) order by lost',
        ['w-beat', JSON.stringify(info), [mine, cancelled, taken]],
      );
      expect(rows).toEqual([
        { id: cancelled, lost: false },
        { id: taken, lost: true },
      ]);
      await t.pool.query(`delete from jobdeck_private.workers where id = 'w-beat'`);
      await t.pool.query(
        `update jobdeck.jobs set status = 'cancelled', finished_at = now()
                           where id = any($1)`,
        [[mine, cancelled, taken]],
      );
    });

    it('drops a duplicate Worker job for a job whose worker is alive', async () => {
      const job = await jobdeck.enqueueJob('quick', {}, { runAt: new Date(Date.now() + 60_000) });
      await t.pool.query(
        `insert into jobdeck_private.workers (id, hostname, pid, concurrency) values ('w-alive', 'h', 1, 1)`,
      );
      await t.pool.query(
        `update jobdeck.jobs set status = 'running', attempts = 1, worker_id = 'w-alive', started_at = now()
          where id = $1`,
        [job.id],
      );
      const items = [
        { id: job.id, gw_job_id: job.gw_job_id, type: 'quick', priority: 0, max_attempts: 3 },
      ];
      const started = await t.pool.query(
        'select * from jobdeck_private.start_jobs($1::jsonb, $2)',
        [JSON.stringify(items), 'w-intruder'],
      );
      expect(started.rows).toEqual([]);
      expect((await jobdeck.getJob(job.id)).worker_id).toBe('w-alive');
      await t.pool.query(`delete from jobdeck_private.workers where id = 'w-alive'`);
      await t.pool.query(
        `update jobdeck.jobs set status = 'cancelled', finished_at = now() where id = $1`,
        [job.id],
      );
    });

    it('puts a held job back in the queue when a keyed enqueue replaces it', async () => {
      const key = `held-${randomUUID()}`;
      const job = await jobdeck.enqueueJob('quick', { v: 1 }, { key, orgId: 'initech' });
      // As start_jobs holds a job: no Worker job, held_at set.
      await t.pool.query('select graphile_worker.complete_jobs(array[$1::bigint])', [
        job.gw_job_id,
      ]);
      await t.pool.query(
        'update jobdeck.jobs set held_at = now(), gw_job_id = null where id = $1',
        [job.id],
      );
      const replaced = await jobdeck.enqueueJob('quick', { v: 2 }, { key, keyMode: 'replace' });
      expect(replaced).toMatchObject({
        id: job.id,
        payload: { v: 2 },
        held_at: null,
        org_id: null,
      });
      expect(await gwJobCount(replaced.gw_job_id)).toBe(1);
      await jobdeck.cancelJob(job.id);
    });
  });
});
