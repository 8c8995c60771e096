import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import type { Job } from '../../src/db/types.ts';
import { InvalidArgumentError } from '../../src/errors.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import { syncTaskTypes, type TaskRegistry } from '../../src/jobs/registry.ts';
import { createDb } from '../../src/db/pool.ts';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/db.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

/** Each start, in the order the worker started them: `<tag>` from the payload. */
const starts: string[] = [];
let openGate: () => void = () => {};
let gate = new Promise<void>((resolve) => (openGate = resolve));
/** Attempts per tag of the `flaky` task, which fails its first attempt. */
const flakyAttempts = new Map<string, number>();

function tagOf(payload: unknown): string {
  return (payload as { tag: string }).tag;
}

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  [
    'work',
    defineTask({
      run: ({ payload }) => {
        starts.push(tagOf(payload));
      },
    }),
  ],
  [
    'fifo_work',
    defineTask({
      fairness: false,
      run: ({ payload }) => {
        starts.push(tagOf(payload));
      },
    }),
  ],
  [
    'flaky',
    defineTask({
      backoff: { delays: [200], jitter: 0 },
      maxAttempts: 3,
      run: ({ payload }) => {
        starts.push(tagOf(payload));
        const n = (flakyAttempts.get(tagOf(payload)) ?? 0) + 1;
        flakyAttempts.set(tagOf(payload), n);
        if (n === 1) throw new Error('first attempt fails');
      },
    }),
  ],
  [
    'gated',
    defineTask({
      maxConcurrent: 1,
      async run({ payload }) {
        starts.push(tagOf(payload));
        await gate;
      },
    }),
  ],
]);

/** One job at a time, so the order of starts is the order Graphile Worker hands jobs out. */
const ONE_AT_A_TIME = { concurrency: 1, localQueueSize: 0 };

describe('fair turns between tenants', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, tasks);
    jobdeck = createJobdeck({ pool: t.pool });
  });
  afterEach(async () => {
    expect(await stopWorkers()).toBe(0);
    starts.length = 0;
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

  function tagged(prefix: string, n: number, extra: Record<string, unknown> = {}) {
    return Array.from({ length: n }, (_, i) => ({
      type: 'work',
      payload: { tag: `${prefix}${i}` },
      ...extra,
    }));
  }

  /** Where in the order of starts each tag began. */
  function positions(): Map<string, number> {
    return new Map(starts.map((tag, i) => [tag, i]));
  }

  it("starts a small organisation's jobs before the 50th job of a big one's backlog", async () => {
    const big = await jobdeck.enqueueJobs(tagged('A', 500, { orgId: 'org-a' }));
    const small = await jobdeck.enqueueJobs(tagged('B', 5, { orgId: 'org-b' }));
    const worker = await runTestWorker(t, tasks, { config: ONE_AT_A_TIME });
    const ids = [...big, ...small].map((j) => j.id);
    await waitFor(() => allSucceeded(ids), { timeoutMs: 60_000, what: 'the 505 jobs' });
    await worker.stop();

    const at = positions();
    const aStarts = starts.filter((tag) => tag.startsWith('A'));
    const fiftiethA = at.get(aStarts[49]!)!;
    for (let i = 0; i < 5; i++) expect(at.get(`B${i}`)).toBeLessThan(fiftiethA);
    // Each organisation's own jobs still start in the order they were enqueued.
    expect(aStarts).toEqual(Array.from({ length: 500 }, (_, i) => `A${i}`));
    // The jobs' own run_at stays the real one (their enqueue); the turn is only their Graphile
    // job's, within a few ms of it here (20 µs a turn).
    const { rows } = await t.pool.query<{ n: number }>(
      `select count(*)::int as n from jobdeck.jobs
        where id = any($1) and fair_at between run_at - interval '1 second' and run_at + interval '1 second'`,
      [ids],
    );
    expect(rows[0]!.n).toBe(505);
  });

  it('interleaves single enqueues too, and lets priority order jobs first', async () => {
    for (let i = 0; i < 30; i++)
      await jobdeck.enqueueJob('work', { tag: `A${i}` }, { orgId: 'org-a' });
    await jobdeck.enqueueJob('work', { tag: 'B-normal' }, { orgId: 'org-b' });
    await jobdeck.enqueueJob('work', { tag: 'B-urgent' }, { orgId: 'org-b', priority: -10 });
    await jobdeck.enqueueJob('work', { tag: 'A-urgent' }, { orgId: 'org-a', priority: -10 });
    const worker = await runTestWorker(t, tasks, { config: ONE_AT_A_TIME });
    await waitFor(async () => starts.length === 33, { timeoutMs: 30_000, what: '33 starts' });
    await worker.stop();

    // Priority comes before turns, across organisations and within one.
    expect(new Set(starts.slice(0, 2))).toEqual(new Set(['B-urgent', 'A-urgent']));
    expect(positions().get('B-normal')).toBeLessThan(5);
    expect(starts.filter((tag) => /^A\d+$/.test(tag))).toEqual(
      Array.from({ length: 30 }, (_, i) => `A${i}`),
    );
  });

  it('keeps a delayed job waiting until its run_at, with its real time in Graphile Worker', async () => {
    const runAt = new Date(Date.now() + 1500);
    const delayed = await jobdeck.enqueueJob(
      'work',
      { tag: 'delayed' },
      { orgId: 'org-b', runAt: runAt.toISOString() },
    );
    expect(delayed.fair_at).toBeNull();
    const { rows } = await t.pool.query<{ run_at: Date }>(
      'select run_at from graphile_worker.jobs where id = $1',
      [delayed.gw_job_id],
    );
    expect(rows[0]!.run_at.getTime()).toBe(runAt.getTime());
    await jobdeck.enqueueJobs(tagged('A', 20, { orgId: 'org-a' }));
    const worker = await runTestWorker(t, tasks, { config: ONE_AT_A_TIME });
    await waitFor(() => allSucceeded([delayed.id]), { timeoutMs: 30_000, what: 'the delay' });
    await worker.stop();
    const job = await jobdeck.getJob(delayed.id);
    expect(job.started_at!.getTime()).toBeGreaterThanOrEqual(runAt.getTime());
  });

  it('runs a queue first-in first-out once its fairness is off, and per task type', async () => {
    expect(await jobdeck.setQueueFairness('plain', 'off')).toBe('off');
    const big = await jobdeck.enqueueJobs(tagged('A', 40, { orgId: 'org-a', queue: 'plain' }));
    const small = await jobdeck.enqueueJobs(tagged('B', 3, { orgId: 'org-b', queue: 'plain' }));
    expect([...big, ...small].every((j) => j.fair_at === null)).toBe(true);
    const worker = await runTestWorker(t, tasks, { config: ONE_AT_A_TIME });
    await waitFor(() => allSucceeded([...big, ...small].map((j) => j.id)), { timeoutMs: 30_000 });
    await worker.stop();
    expect(starts).toEqual([
      ...Array.from({ length: 40 }, (_, i) => `A${i}`),
      ...Array.from({ length: 3 }, (_, i) => `B${i}`),
    ]);
    expect(await jobdeck.setQueueFairness('plain', null)).toBeNull();
    const fair = await jobdeck.enqueueJob('work', { tag: 'x' }, { queue: 'plain' });
    expect(fair.fair_at).not.toBeNull();

    // defineTask({ fairness: false }) on its own; a queue set to 'org' wins over it.
    const fifo = await jobdeck.enqueueJob('fifo_work', { tag: 'y' }, { orgId: 'org-a' });
    expect(fifo.fair_at).toBeNull();
    await jobdeck.setQueueFairness('turns', 'org');
    const turned = await jobdeck.enqueueJob(
      'fifo_work',
      { tag: 'z' },
      { orgId: 'org-a', queue: 'turns' },
    );
    expect(turned.fair_at).not.toBeNull();
    await jobdeck.setQueueFairness('turns', null);
    await t.pool.query('delete from jobdeck.jobs where id = any($1)', [
      [fair.id, fifo.id, turned.id],
    ]);
    await t.pool.query('delete from graphile_worker._private_jobs');
  });

  it('hands Graphile Worker the jobs of one transaction in their order, whatever space their rows reuse', async () => {
    // Graphile claims by (priority, run_at) alone: jobs sharing a run_at would start in the
    // order of their rows on disk, and rows deleted first leave space that later rows fill.
    await jobdeck.enqueueJobs(tagged('old', 200, { queue: 'plain' }));
    await t.pool.query('delete from graphile_worker._private_jobs');
    await t.pool.query("delete from jobdeck.jobs where payload->>'tag' like 'old%'");
    expect(await jobdeck.setQueueFairness('plain', 'off')).toBe('off');
    const batch = await jobdeck.enqueueJobs(tagged('A', 40, { queue: 'plain' }));
    const client = await t.pool.connect();
    const singles: Job[] = [];
    try {
      await client.query('begin');
      for (let i = 0; i < 5; i++)
        singles.push(
          await jobdeck.enqueueJob('work', { tag: `S${i}` }, { queue: 'plain', tx: client }),
        );
      await client.query('commit');
    } finally {
      client.release();
    }
    const { rows } = await t.pool.query<{ tag: string }>(
      `select j.payload->>'tag' as tag from graphile_worker._private_jobs g
         join jobdeck.jobs j on j.gw_job_id = g.id order by g.priority, g.run_at`,
    );
    const order = [...batch, ...singles].map((j) => (j.payload as { tag: string }).tag);
    expect(rows.map((r) => r.tag)).toEqual(order);
    const { rows: distinct } = await t.pool.query<{ n: number }>(
      'select count(distinct run_at)::int as n from graphile_worker._private_jobs',
    );
    expect(distinct[0]!.n).toBe(45);
    const worker = await runTestWorker(t, tasks, { config: ONE_AT_A_TIME });
    await waitFor(() => allSucceeded([...batch, ...singles].map((j) => j.id)), {
      timeoutMs: 30_000,
    });
    await worker.stop();
    expect(starts).toEqual(order);
    expect(await jobdeck.setQueueFairness('plain', null)).toBeNull();
  });

  it('gives an organisation of weight 3 three turns for each of a weight-1 one', async () => {
    expect(await jobdeck.setOrgWeight('org-w', 3)).toBe(3);
    const heavy = await jobdeck.enqueueJobs(tagged('W', 30, { orgId: 'org-w' }));
    const light = await jobdeck.enqueueJobs(tagged('L', 30, { orgId: 'org-l' }));
    const worker = await runTestWorker(t, tasks, { config: ONE_AT_A_TIME });
    await waitFor(() => allSucceeded([...heavy, ...light].map((j) => j.id)), {
      timeoutMs: 30_000,
    });
    await worker.stop();
    const firstForty = starts.slice(0, 40);
    const heavyShare = firstForty.filter((tag) => tag.startsWith('W')).length;
    // 3 : 1 would be 30 of 40; allow a turn either way for ties at the same microsecond.
    expect(heavyShare).toBeGreaterThanOrEqual(28);
    expect(await jobdeck.setOrgWeight('org-w', null)).toBe(1);
  });

  it('retries at their backoff time and releases held jobs at the turn they had', async () => {
    const flaky = await jobdeck.enqueueJob('flaky', { tag: 'F' }, { orgId: 'org-b' });
    gate = new Promise<void>((resolve) => (openGate = resolve));
    const gated = await jobdeck.enqueueJobs(
      Array.from({ length: 3 }, (_, i) => ({
        type: 'gated',
        payload: { tag: `G${i}` },
        orgId: `org-${i}`,
      })),
    );
    const worker = await runTestWorker(t, tasks, { config: { concurrency: 4 } });
    // One gated job runs; the others are held by the limit and lose their Graphile job.
    await waitFor(
      async () => {
        const { rows } = await t.pool.query<{ n: number }>(
          `select count(*)::int as n from jobdeck.jobs where id = any($1) and held_at is not null`,
          [gated.map((j) => j.id)],
        );
        return rows[0]!.n === 2;
      },
      { what: 'two held jobs' },
    );
    await waitFor(() => allSucceeded([flaky.id]), { timeoutMs: 30_000, what: 'the retry' });
    expect(flakyAttempts.get('F')).toBe(2);

    openGate();
    await waitFor(() => allSucceeded(gated.map((j) => j.id)), { timeoutMs: 30_000 });
    await worker.stop();
    expect(starts.filter((tag) => tag.startsWith('G')).sort()).toEqual(['G0', 'G1', 'G2']);
  });

  it('puts a released held job back at the turn it had, not behind the backlog', async () => {
    const held = await jobdeck.enqueueJob('work', { tag: 'H' }, { orgId: 'org-h' });
    await jobdeck.enqueueJobs(tagged('A', 20, { orgId: 'org-a' }));
    // What start_jobs does to a job over a cap: held, its Graphile job dropped.
    await t.pool.query('delete from graphile_worker._private_jobs where id = $1', [held.gw_job_id]);
    await t.pool.query('update jobdeck.jobs set held_at = now(), gw_job_id = null where id = $1', [
      held.id,
    ]);
    const released = await t.pool.query<{ n: number }>(
      `select jobdeck_private.release_held(array['org-h'], null) as n`,
    );
    expect(released.rows[0]!.n).toBe(1);
    const { rows } = await t.pool.query<{ run_at: Date; fair_at: Date }>(
      `select g.run_at, j.fair_at from jobdeck.jobs j join graphile_worker.jobs g on g.id = j.gw_job_id
        where j.id = $1`,
      [held.id],
    );
    expect(rows[0]!.run_at).toEqual(rows[0]!.fair_at);
    const worker = await runTestWorker(t, tasks, { config: ONE_AT_A_TIME });
    await waitFor(async () => starts.length === 21, { timeoutMs: 30_000, what: '21 starts' });
    await worker.stop();
    // At its turn (a tie with A0's, which came after it), not behind A's 20.
    expect(starts.indexOf('H')).toBeLessThanOrEqual(1);
  });

  it('gives a waiting job whose Graphile job went missing its turn back', async () => {
    const orphan = await jobdeck.enqueueJob('work', { tag: 'O' }, { orgId: 'org-o' });
    await t.pool.query('delete from graphile_worker._private_jobs where id = $1', [
      orphan.gw_job_id,
    ]);
    const { rows: requeued } = await t.pool.query<{ id: string }>(
      'select jobdeck_private.requeue_orphans($1::jsonb) as id',
      [JSON.stringify([{ id: orphan.id, gw_job_id: orphan.gw_job_id }])],
    );
    expect(requeued.map((r) => r.id)).toEqual([orphan.id]);
    const { rows } = await t.pool.query<{ run_at: Date; fair_at: Date }>(
      `select g.run_at, j.fair_at from jobdeck.jobs j join graphile_worker.jobs g on g.id = j.gw_job_id
        where j.id = $1`,
      [orphan.id],
    );
    expect(rows[0]!.run_at).toEqual(rows[0]!.fair_at);
    await t.pool.query('delete from graphile_worker._private_jobs');
    await t.pool.query('delete from jobdeck.jobs where id = $1', [orphan.id]);
  });

  it('refuses bad settings with errors naming the field, changing nothing', async () => {
    await expect(jobdeck.setQueueFairness('q', 'round-robin' as never)).rejects.toThrow(
      InvalidArgumentError,
    );
    await expect(jobdeck.setQueueFairness('', 'off')).rejects.toThrow(/queue must be a name/);
    await expect(jobdeck.setOrgWeight('org-a', 0)).rejects.toThrow(
      /weight for organisation "org-a" must be a whole number from 1 to 10/,
    );
    await expect(jobdeck.setOrgWeight('org-a', 2.5)).rejects.toThrow(InvalidArgumentError);
    await expect(t.pool.query(`select jobdeck.set_queue_fairness('q', 'fifo')`)).rejects.toThrow(
      /fairness for queue "q" must be 'org', 'off' or null/,
    );
    await expect(t.pool.query(`select jobdeck.set_org_weight('org-a', 11)`)).rejects.toThrow(
      /weight for organisation "org-a" must be from 1 to 10/,
    );
    const db = createDb(t.pool);
    try {
      const bad = new Map([
        ['work', defineTask({ fairness: 'tenant' as never, run: () => null })],
      ]) as TaskRegistry;
      await expect(
        syncTaskTypes(db, bad, { maxAttempts: 3, maxPayloadBytes: 1024 }),
      ).rejects.toThrow(`task "work": fairness must be 'org' or false, got "tenant"`);
    } finally {
      await db.destroy();
    }
    const { rows } = await t.pool.query(
      'select (select count(*)::int from jobdeck_private.queue_fairness) as queues, (select count(*)::int from jobdeck_private.org_weights) as weights',
    );
    expect(rows[0]).toEqual({ queues: 0, weights: 0 });
  });
});
