import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { InvalidArgumentError } from '../../src/errors.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import { syncTaskTypes, type TaskRegistry } from '../../src/jobs/registry.ts';
import { createDb } from '../../src/db/pool.ts';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/db.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

/** Jobs running right now and the most seen at once, per key (a type or a queue). */
const running = new Map<string, number>();
const peak = new Map<string, number>();
/** Blocked runs of `gate`, finished by opening the gate. */
let openGate: () => void = () => {};
let gate = new Promise<void>((resolve) => (openGate = resolve));

async function span(key: string, ms: number): Promise<void> {
  running.set(key, (running.get(key) ?? 0) + 1);
  peak.set(key, Math.max(peak.get(key) ?? 0, running.get(key)!));
  await new Promise((resolve) => setTimeout(resolve, ms));
  running.set(key, running.get(key)! - 1);
}

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  ['limited', defineTask({ maxConcurrent: 3, run: () => span('limited', 150) })],
  ['free', defineTask({ run: ({ job }) => span(`queue:${job.queue ?? '-'}`, 150) })],
  [
    'gated',
    defineTask({
      maxConcurrent: 1,
      async run() {
        await gate;
      },
    }),
  ],
]);

// A slow heartbeat keeps the periodic release of held jobs (every 10 heartbeats) out of the way:
// a held job that runs here was released by the finish that freed its slot.
const CONFIG = {
  concurrency: 6,
  localQueueSize: 0,
  heartbeatIntervalMs: 60_000,
  rescueAfterMs: 180_000,
};

describe('concurrency limits per task type and per queue', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, tasks);
    jobdeck = createJobdeck({ pool: t.pool });
  });
  afterEach(async () => {
    expect(await stopWorkers()).toBe(0);
  });
  afterAll(async () => {
    await jobdeck.close();
    await t.drop();
  });

  async function allSucceeded(ids: string[]): Promise<boolean> {
    const { rows } = await t.pool.query<{ n: number }>(
      `select count(*)::int as n from jobdeck.jobs where id = any($1) and status = 'succeeded'`,
      [ids],
    );
    return rows[0]!.n === ids.length;
  }

  async function heldMessages(ids: string[]): Promise<string[]> {
    const { rows } = await t.pool.query<{ message: string }>(
      `select message from jobdeck.job_events where job_id = any($1) and message like 'held:%'`,
      [ids],
    );
    return rows.map((r) => r.message);
  }

  it('stores defineTask maxConcurrent as a row, and removes it when the task drops it', async () => {
    const { rows } = await t.pool.query(
      `select scope, key, max_running from jobdeck_private.concurrency_limits order by key`,
    );
    expect(rows).toEqual([
      { scope: 'type', key: 'gated', max_running: 1 },
      { scope: 'type', key: 'limited', max_running: 3 },
    ]);
    const db = createDb(t.pool);
    try {
      const once = new Map([['gated', defineTask({ run: () => null })]]);
      await syncTaskTypes(db, once, { maxAttempts: 3, maxPayloadBytes: 1024 });
      const after = await t.pool.query(`select key from jobdeck_private.concurrency_limits`);
      expect(after.rows).toEqual([{ key: 'limited' }]);
    } finally {
      await registerTasks(t, tasks);
      await db.destroy();
    }
  });

  it('runs at most maxConcurrent jobs of a type at once across two workers', async () => {
    running.clear();
    peak.clear();
    const workers = [
      await runTestWorker(t, tasks, { config: CONFIG }),
      await runTestWorker(t, tasks, { config: CONFIG }),
    ];
    const jobs = await jobdeck.enqueueJobs(
      Array.from({ length: 12 }, (_, i) => ({ type: 'limited', orgId: `org-${i % 3}` })),
    );
    const ids = jobs.map((j) => j.id);
    await waitFor(() => allSucceeded(ids), { timeoutMs: 30_000, what: 'the limited jobs' });
    for (const worker of workers) await worker.stop();

    expect(peak.get('limited')).toBe(3);
    const messages = await heldMessages(ids);
    expect(messages.length).toBeGreaterThan(0);
    expect(new Set(messages)).toEqual(
      new Set(['held: task type "limited" is at its concurrency limit (3)']),
    );
    const { rows } = await t.pool.query<{ n: number }>(
      'select count(distinct worker_id)::int as n from jobdeck.jobs where id = any($1)',
      [ids],
    );
    expect(rows[0]!.n).toBe(2);
  });

  it('runs at most the queue limit of a named queue at once, where it would otherwise run one at a time', async () => {
    running.clear();
    peak.clear();
    expect(await jobdeck.setQueueConcurrency('reports', 2)).toBe(2);
    const worker = await runTestWorker(t, tasks, { config: CONFIG });
    const jobs = await jobdeck.enqueueJobs([
      ...Array.from({ length: 6 }, () => ({ type: 'free', queue: 'reports' })),
      ...Array.from({ length: 4 }, () => ({ type: 'free' })),
    ]);
    const ids = jobs.map((j) => j.id);
    await waitFor(() => allSucceeded(ids), { timeoutMs: 30_000, what: 'the queued jobs' });
    await worker.stop();

    // Two at once: not Graphile Worker's one-at-a-time named queue, and never more than the limit.
    expect(peak.get('queue:reports')).toBe(2);
    const messages = await heldMessages(ids.slice(0, 6));
    expect(messages.length).toBeGreaterThan(0);
    expect(new Set(messages)).toEqual(
      new Set(['held: queue "reports" is at its concurrency limit (2)']),
    );
    // Jobs without a queue were never held.
    expect(await heldMessages(ids.slice(6))).toEqual([]);
    expect(await jobdeck.setQueueConcurrency('reports', null)).toBeNull();
    const { rows } = await t.pool.query(
      `select 1 from jobdeck_private.concurrency_limits where scope = 'queue'`,
    );
    expect(rows).toEqual([]);
  });

  it('holds a job over its limit, says why, and starts it when the running one finishes', async () => {
    gate = new Promise<void>((resolve) => (openGate = resolve));
    const worker = await runTestWorker(t, tasks, { config: CONFIG });
    const first = await jobdeck.enqueueJob('gated', {});
    await waitFor(async () => (await jobdeck.getJob(first.id)).status === 'running');
    const second = await jobdeck.enqueueJob('gated', {});
    const held = await waitFor(async () => {
      const job = await jobdeck.getJob(second.id);
      return job.held_at !== null && job;
    });
    expect(held).toMatchObject({ status: 'queued', gw_job_id: null });
    const events = await jobdeck.getJobEvents(second.id);
    expect(events.map((e) => e.message)).toContain(
      'held: task type "gated" is at its concurrency limit (1)',
    );
    expect((await jobdeck.jobStats()).queue.held).toBeGreaterThanOrEqual(1);

    openGate();
    await waitFor(async () => (await jobdeck.getJob(second.id)).status === 'succeeded', {
      what: 'the held job to run after the first finished',
    });
    await worker.stop();
    expect((await jobdeck.getJob(first.id)).status).toBe('succeeded');
  });

  it('keeps the fast path for jobs no limit applies to', async () => {
    const free = await jobdeck.enqueueJob('free', {});
    const limited = await jobdeck.enqueueJob('limited', {});
    const keys = await t.pool.query<{ keys: string[] | null }>(
      'select jobdeck_private.limit_keys($1::uuid[]) as keys',
      [[free.id, limited.id]],
    );
    expect(keys.rows[0]!.keys).toEqual(['type:limited']);
    // begin_jobs returns the free job without marking it (the fast path) and sends the limited
    // one through start_jobs, which marks it running under the limit's lock.
    const { rows } = await t.pool.query<{ id: string; status: string }>(
      'select id, status from jobdeck_private.begin_jobs($1::jsonb, $2)',
      [
        JSON.stringify([
          { id: free.id, gw_job_id: free.gw_job_id },
          { id: limited.id, gw_job_id: limited.gw_job_id },
        ]),
        'w-fast',
      ],
    );
    expect(Object.fromEntries(rows.map((r) => [r.id, r.status]))).toEqual({
      [free.id]: 'queued',
      [limited.id]: 'running',
    });
    await t.pool.query(
      `update jobdeck.jobs set status = 'cancelled', finished_at = now() where id = any($1)`,
      [[free.id, limited.id]],
    );
  });

  it('answers null from limit_keys when no limit exists, so start_jobs takes its fast branch', async () => {
    const job = await jobdeck.enqueueJob('free', {}, { runAt: new Date(Date.now() + 3_600_000) });
    const client = await t.pool.connect();
    try {
      await client.query('begin');
      await client.query('delete from jobdeck_private.concurrency_limits');
      const { rows } = await client.query<{ keys: string[] | null }>(
        'select jobdeck_private.limit_keys($1::uuid[]) as keys',
        [[job.id]],
      );
      expect(rows[0]!.keys).toBeNull();
    } finally {
      await client.query('rollback');
      client.release();
    }
    await jobdeck.cancelJob(job.id);
  });

  it('writes JOBDECK_QUEUE_CONCURRENCY when a worker starts', async () => {
    const worker = await runTestWorker(t, tasks, {
      config: { ...CONFIG, queueConcurrency: { mail: 2, gone: null } },
    });
    await worker.stop();
    const { rows } = await t.pool.query(
      `select key, max_running from jobdeck_private.concurrency_limits where scope = 'queue'`,
    );
    expect(rows).toEqual([{ key: 'mail', max_running: 2 }]);
    await jobdeck.setQueueConcurrency('mail', null);
  });

  it('refuses bad limits with a message naming the problem', async () => {
    await expect(jobdeck.setQueueConcurrency('reports', 0)).rejects.toThrow(
      new InvalidArgumentError(
        'the concurrency limit of queue "reports" must be a whole number from 1 to 100000, or null to remove it; got 0',
      ),
    );
    await expect(jobdeck.setQueueConcurrency('', 3)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(jobdeck.setQueueConcurrency('reports', 2.5)).rejects.toThrow(/whole number/);
    // From SQL, as an application's role in jobdeck_system calls it.
    const client = await t.pool.connect();
    try {
      await client.query('begin');
      await client.query('set local role jobdeck_system');
      await expect(
        client.query(`select jobdeck.set_queue_concurrency('reports', -1)`),
      ).rejects.toMatchObject({
        code: 'JD004',
        message:
          'max_running for queue "reports" must be from 1 to 100000, or null to remove the limit; got -1',
      });
      await client.query('rollback');
      await client.query('begin');
      await client.query('set local role jobdeck_system');
      await expect(client.query(`select jobdeck.set_queue_concurrency('', 3)`)).rejects.toThrow(
        /queue must be a name of 1 to 128 characters, got ''/,
      );
      await client.query('rollback');
      await client.query('begin');
      await client.query('set local role jobdeck_system');
      const set = await client.query<{ n: number }>(
        `select jobdeck.set_queue_concurrency('mail', 4) as n`,
      );
      expect(set.rows[0]!.n).toBe(4);
    } finally {
      await client.query('rollback');
      client.release();
    }
    // The request roles cannot change limits.
    const api = await t.pool.connect();
    try {
      await api.query('begin');
      await api.query('set local role jobdeck_admin');
      await expect(api.query(`select jobdeck.set_queue_concurrency('mail', 4)`)).rejects.toThrow(
        /permission denied/,
      );
    } finally {
      await api.query('rollback');
      api.release();
    }
    // A task's option is checked when its types are registered.
    const bad = new Map([['broken', defineTask({ maxConcurrent: 0, run: () => null })]]);
    await expect(registerTasks(t, bad)).rejects.toThrow(
      'task "broken": maxConcurrent must be a whole number from 1 to 100000, got 0',
    );
  });
});
