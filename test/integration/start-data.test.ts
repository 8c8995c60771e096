import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import type { Job } from '../../src/db/types.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { rowFromStartData, startDataOf } from '../../src/worker/start-data.ts';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/db.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

/** The tags of the `record` jobs that ran, in order, and the row each attempt saw. */
const ran: string[] = [];
const seen = new Map<string, Job>();
let release: () => void = () => {};

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  [
    'record',
    defineTask({
      run({ payload, job }) {
        const tag = (payload as { tag: string }).tag;
        ran.push(tag);
        seen.set(tag, job);
      },
    }),
  ],
  [
    'blocker',
    defineTask({
      async run({ signal }) {
        await new Promise<void>((resolve) => {
          release = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
      },
    }),
  ],
]);

/** One slot, and a local queue that fetches the jobs behind the running one. */
const ONE_SLOT_PREFETCH = { concurrency: 1, localQueueSize: 10, heartbeatIntervalMs: 200 };

/**
 * Starts without a read (issue 23; sql/start/, src/worker/start-data.ts): a job no flow rule
 * covers carries its row's values in its Graphile job, and the worker starts its first attempt
 * from them. These tests hold that to what a read would have given, and show that a cancel, a
 * pause or a cap still reaches a job a worker has already fetched.
 */
describe('the start without a read', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, tasks);
    jobdeck = createJobdeck({ pool: t.pool });
  });
  afterEach(async () => {
    expect(await stopWorkers(), 'a test left a worker running').toBe(0);
    release();
    ran.length = 0;
    seen.clear();
    await t.pool.query('delete from jobdeck_private.pauses');
    await t.pool.query('delete from graphile_worker._private_jobs');
  });
  afterAll(async () => {
    await jobdeck.close();
    await t.drop();
  });

  async function graphilePayload(gwJobId: string | null): Promise<unknown> {
    const { rows } = await t.pool.query<{ payload: unknown }>(
      'select payload from graphile_worker._private_jobs where id = $1',
      [gwJobId],
    );
    return rows[0]?.payload;
  }

  async function row(id: string): Promise<Job> {
    const { rows } = await t.pool.query<Job>('select * from jobdeck.jobs where id = $1', [id]);
    return rows[0]!;
  }

  /**
   * Lets a NOTIFY committed just now reach the worker's LISTEN connection (a few ms; the margin is
   * for a loaded CI machine). A start racing the notice is the documented window: such a start is
   * aborted by its running mark or its finish (docs/reliability.md).
   */
  function noticeDelivered(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, 1000));
  }

  /** Waits until a worker has fetched (locked) the job's Graphile job. */
  async function fetched(job: Job): Promise<void> {
    await waitFor(
      async () => {
        const { rows } = await t.pool.query<{ locked: boolean }>(
          'select locked_at is not null as locked from graphile_worker._private_jobs where id = $1',
          [job.gw_job_id],
        );
        return rows[0]?.locked === true;
      },
      { what: `job ${job.id} fetched` },
    );
  }

  it('builds exactly the row a read returns, for every kind of job that carries start data', async () => {
    const single = await jobdeck.enqueueJob(
      'record',
      { tag: 'a', nested: { n: 1.5, list: [1, 'x', null] } },
      {
        ownerId: 'alice',
        orgId: 'acme',
        related: { type: 'invoice', id: 'inv-1' },
        metadata: { source: 'test', deep: { k: true } },
        priority: -3,
        maxAttempts: 7,
        queue: 'q1',
        runAt: new Date(Date.now() - 60_000).toISOString(),
      },
    );
    const plain = await jobdeck.enqueueJob('record', { tag: 'b' });
    const batch = await jobdeck.enqueueJobs([
      { type: 'record', payload: { tag: 'c' }, orgId: 'acme' },
      { type: 'record', payload: { tag: 'd' }, ownerId: 'bob', queue: 'q2' },
    ]);
    const client = await t.pool.connect();
    let inTx: Job;
    try {
      await client.query('begin');
      inTx = await jobdeck.enqueueJob('record', { tag: 'e' }, { tx: client, orgId: 'other' });
      await client.query('commit');
    } finally {
      client.release();
    }
    for (const job of [single, plain, ...batch, inTx]) {
      const start = startDataOf(await graphilePayload(job.gw_job_id));
      expect(start, `start data of ${job.id}`).not.toBeNull();
      expect(rowFromStartData(job.id, job.type, job.gw_job_id!, start!)).toEqual(await row(job.id));
    }
  });

  it('gives no start data to a job the row may differ from, or a rule covers', async () => {
    const keyed = await jobdeck.enqueueJob('record', { tag: 'k' }, { key: 'k1' });
    const big = await jobdeck.enqueueJob('record', { tag: 'big', blob: 'x'.repeat(9000) });
    const webhook = await jobdeck.enqueueJob(
      'record',
      { tag: 'w' },
      { webhookUrl: 'https://example.com/hook' },
    );
    const batch = await jobdeck.enqueueBatch([{ type: 'record', payload: { tag: 'in-batch' } }]);
    await jobdeck.pause({ queue: 'paused-q' });
    const paused = await jobdeck.enqueueJob('record', { tag: 'p' }, { queue: 'paused-q' });
    const { rows: inBatch } = await t.pool.query<{ gw_job_id: string }>(
      'select gw_job_id from jobdeck.jobs where batch_id = $1',
      [batch.id],
    );
    for (const gw of [keyed, big, webhook, paused]
      .map((j) => j.gw_job_id)
      .concat(inBatch[0]!.gw_job_id)) {
      const payload = (await graphilePayload(gw)) as Record<string, unknown>;
      expect(Object.keys(payload)).toEqual(['jobdeckId']);
    }
    await t.pool.query(`delete from jobdeck.jobs where status = 'queued'`);
  });

  it('gives no start data while a worker from before it is registered, and says so for its own workers', async () => {
    // A worker that does not read start data (one from before migration 000025, mid-upgrade)
    // would take {jobdeckId, start} for an untracked Graphile job.
    await t.pool.query(
      `insert into jobdeck_private.workers (id, hostname, pid, concurrency) values ('old-worker', 'h', 1, 1)`,
    );
    const during = await jobdeck.enqueueJob('record', { tag: 'during' });
    expect(Object.keys((await graphilePayload(during.gw_job_id)) as object)).toEqual(['jobdeckId']);
    await t.pool.query(`delete from jobdeck_private.workers where id = 'old-worker'`);
    const worker = await runTestWorker(t, tasks);
    const { rows } = await t.pool.query<{ reads: boolean }>(
      'select reads_start_data as reads from jobdeck_private.workers where id = $1',
      [worker.id],
    );
    expect(rows).toEqual([{ reads: true }]);
    const after = await jobdeck.enqueueJob('record', { tag: 'after' });
    expect(startDataOf(await graphilePayload(after.gw_job_id))).not.toBeNull();
    await waitFor(async () => (await row(after.id)).status === 'succeeded', { what: 'after' });
    await worker.stop();
    expect(ran.sort()).toEqual(['after', 'during']);
  });

  it('starts a job from its start data, without the start read', async () => {
    const job = await jobdeck.enqueueJob('record', { tag: 'fast' }, { orgId: 'acme' });
    const database = new URL(t.url).pathname.slice(1);
    await t.pool.query(`alter database "${database}" set track_functions = 'pl'`);
    const calls = async () => {
      const { rows } = await t.pool.query<{ n: string | null }>(
        `select sum(calls)::text as n from pg_stat_user_functions
          where schemaname = 'jobdeck_private' and funcname in ('begin_jobs', 'start_jobs')`,
      );
      return Number(rows[0]?.n ?? 0);
    };
    const before = await calls();
    const worker = await runTestWorker(t, tasks);
    await waitFor(async () => (await row(job.id)).status === 'succeeded', { what: 'the job' });
    await worker.stop();
    await t.pool.query(`alter database "${database}" reset track_functions`);
    expect(seen.get('fast')).toMatchObject({
      id: job.id,
      status: 'running',
      attempts: 1,
      org_id: 'acme',
      payload: { tag: 'fast' },
    });
    // The statistics of the worker's connections are flushed when they close (worker.stop()).
    await waitFor(async () => (await calls()) === before, { timeoutMs: 2000, what: 'stats' });
    expect(await calls()).toBe(before);
  });

  it('never starts a job cancelled while it waited in a worker’s local queue, nor after that worker gave it back', async () => {
    const blocker = await jobdeck.enqueueJob('blocker', {});
    const victim = await jobdeck.enqueueJob('record', { tag: 'victim' });
    const after = await jobdeck.enqueueJob('record', { tag: 'after' });
    const worker = await runTestWorker(t, tasks, { config: ONE_SLOT_PREFETCH });
    await fetched(victim);
    expect((await jobdeck.cancelJob(victim.id)).status).toBe('cancelled');
    // Hinted, the worker reads the victim's row when its turn comes, and skips it.
    await noticeDelivered();
    release();
    await waitFor(async () => (await row(after.id)).status === 'succeeded', { what: 'after' });
    expect(ran).toEqual(['after']);
    expect((await row(victim.id)).attempts).toBe(0);
    expect((await row(blocker.id)).status).toBe('succeeded');
    await worker.stop();

    // The same cancel, and the worker shuts down before the job's turn: it gives the job back
    // to Graphile Worker, and the next worker (never hinted) finds no start data left in it.
    const blocker2 = await jobdeck.enqueueJob('blocker', {});
    const victim2 = await jobdeck.enqueueJob('record', { tag: 'victim2' });
    const first = await runTestWorker(t, tasks, {
      config: { ...ONE_SLOT_PREFETCH, shutdownTimeoutMs: 100 },
    });
    await fetched(victim2);
    await jobdeck.cancelJob(victim2.id);
    expect(Object.keys((await graphilePayload(victim2.gw_job_id)) as object)).toEqual([
      'jobdeckId',
    ]);
    await first.stop();
    expect((await row(blocker2.id)).status).not.toBe('running');
    const second = await runTestWorker(t, tasks);
    await waitFor(
      async () => {
        const { rows } = await t.pool.query(
          'select 1 from graphile_worker._private_jobs where id = $1',
          [victim2.gw_job_id],
        );
        return rows.length === 0;
      },
      { what: 'the given-back Graphile job done with' },
    );
    await second.stop();
    expect(ran).not.toContain('victim2');
    expect((await row(victim2.id)).status).toBe('cancelled');
  });

  it('does not run again a job whose dead pool finished it before Graphile Worker completed it', async () => {
    // A pool ran the job from its start data and its finish committed, then the pool died
    // before Graphile Worker deleted the job. Releasing the pool's locks (release_pools; the
    // rescue does the same) resets Graphile Worker's attempt count, so the next fetch looks
    // like a first one: it must read the row, find the job finished, and skip it.
    const done = await jobdeck.enqueueJob('record', { tag: 'finished-before' });
    await t.pool.query(
      `update graphile_worker._private_jobs set locked_at = now(), locked_by = 'dead-pool', attempts = 1
        where id = $1`,
      [done.gw_job_id],
    );
    await t.pool.query(
      `update jobdeck.jobs set status = 'succeeded', attempts = 1, started_at = now(),
              finished_at = now(), progress = 100 where id = $1`,
      [done.id],
    );
    await t.pool.query('select jobdeck_private.release_pools($1::text[])', [['dead-pool']]);
    expect(Object.keys((await graphilePayload(done.gw_job_id)) as object)).toEqual(['jobdeckId']);
    const worker = await runTestWorker(t, tasks);
    await waitFor(async () => (await graphilePayload(done.gw_job_id)) === undefined, {
      what: 'the released Graphile job done with',
    });
    await worker.stop();
    expect(ran).toEqual([]);
    expect(await row(done.id)).toMatchObject({ status: 'succeeded', attempts: 1 });
  });

  it('holds a job a pause covers although a worker fetched it with start data before the pause', async () => {
    await jobdeck.enqueueJob('blocker', {});
    const held = await jobdeck.enqueueJob('record', { tag: 'held' });
    expect(startDataOf(await graphilePayload(held.gw_job_id))).not.toBeNull();
    const worker = await runTestWorker(t, tasks, { config: ONE_SLOT_PREFETCH });
    await fetched(held);
    await jobdeck.pause({ type: 'record' });
    await noticeDelivered();
    release();
    await waitFor(async () => (await row(held.id)).held_at !== null, { what: 'the hold' });
    expect(ran).toEqual([]);
    expect((await row(held.id)).held_reason).toMatch(/^paused: task type "record"/);
    await jobdeck.resume({ type: 'record' });
    await waitFor(async () => (await row(held.id)).status === 'succeeded', { what: 'the resume' });
    await worker.stop();
    expect(ran).toEqual(['held']);
  });

  it('holds a job enqueued by a transaction that overlapped the pause, which its start data cannot show', async () => {
    const client = await t.pool.connect();
    let job: Job;
    try {
      await client.query('begin');
      job = await jobdeck.enqueueJob('record', { tag: 'overlap' }, { tx: client, queue: 'oq' });
      // The pause commits while the enqueue's transaction is still open.
      await jobdeck.pause({ queue: 'oq' });
      await client.query('commit');
    } finally {
      client.release();
    }
    expect(startDataOf(await graphilePayload(job.gw_job_id))).not.toBeNull();
    const worker = await runTestWorker(t, tasks);
    await waitFor(async () => (await row(job.id)).held_at !== null, { what: 'the hold' });
    await worker.stop();
    expect(ran).toEqual([]);
    await jobdeck.resume({ queue: 'oq' });
    await t.pool.query('delete from jobdeck.jobs where id = $1', [job.id]);
  });
});
