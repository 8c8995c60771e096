import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import type { Batch } from '../../src/batches/batches.ts';
import {
  BatchNotFoundError,
  InvalidArgumentError,
  InvalidPayloadError,
  UnknownJobTypeError,
} from '../../src/errors.ts';
import { loadTasks } from '../../src/jobs/registry.ts';
import { ROOT, runCli, workerProcesses, workerEnv } from '../helpers/cli.ts';
import { createTestDatabase, openApiPool, waitFor, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';
import { gql, startTestServer, stopServers, tokenFor } from '../helpers/api.ts';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { openStream } from '../helpers/sse.ts';

/**
 * Batches (issue 21, item 4 and the batch test of item 6): a 1,000-job batch run by three
 * `jobdeck worker` processes, with failures, reports exact counts; the on-complete job runs once
 * with the outcome; cancelBatch; live updates; row-level security; bad input.
 */
const TASKS_DIR = path.join(ROOT, 'test/fixtures/batch-tasks');

let t: TestDatabase;
let jobdeck: Jobdeck;
let env: Record<string, string>;
let dataDir: string;
const workers = workerProcesses(() => env);
const startWorkers = (n: number) => workers.start(n);
const stopWorkers = () => workers.stop();

/** The batch's jobs counted by status, as the jobs table has them. */
async function statusCounts(batchId: string): Promise<Record<string, number>> {
  const { rows } = await t.pool.query<{ status: string; n: number }>(
    'select status, count(*)::int as n from jobdeck.jobs where batch_id = $1 group by status',
    [batchId],
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

async function doneRuns(batchId: string): Promise<{ job_id: string; payload: unknown }[]> {
  const { rows } = await t.pool.query<{ job_id: string; payload: unknown }>(
    `select job_id, payload from batch_done where payload -> 'batch' ->> 'id' = $1`,
    [batchId],
  );
  return rows;
}

beforeAll(async () => {
  t = await createTestDatabase();
  jobdeck = createJobdeck({ connectionString: t.url });
  dataDir = mkdtempSync(path.join(tmpdir(), 'jobdeck-batches-'));
  env = workerEnv(t.url, TASKS_DIR, { JOBDECK_DATA_DIR: dataDir, JOBDECK_CONCURRENCY: '8' });
  await registerTasks(t, await loadTasks(TASKS_DIR));
  await t.pool.query('create table batch_runs (job_id uuid, worker_id text, n int)');
  await t.pool.query('create table batch_done (job_id uuid, payload jsonb)');
});
afterEach(async () => {
  await stopWorkers();
});
afterAll(async () => {
  await stopServers();
  await stopWorkers();
  await jobdeck.close();
  await t.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('enqueueBatch()', () => {
  it(
    'runs a 1,000-job batch on three worker processes with exact counts, live, and one on-complete job',
    { timeout: 240_000 },
    async () => {
      const specs = Array.from({ length: 1000 }, (_, n) => ({
        type: 'batch_item',
        // 20 ms of work each: 1,000 jobs take one 8-slot process at least 2.5 s, long enough for
        // all three processes to take part however fast the machine starts them.
        payload: { n, fail: n % 50 === 7, sleepMs: 20 },
      }));
      const batch = await jobdeck.enqueueBatch(specs, {
        onComplete: 'batch_done',
        payload: { label: 'import-42' },
        ownerId: 'alice',
        orgId: 'acme',
      });
      expect(batch).toMatchObject({ total: 1000, succeeded: 0, failed: 0, cancelled: 0 });
      expect(batch).toMatchObject({ percent: 0, status: 'running', onCompleteJobId: null });

      // A live watcher sees every change in order, counts never going back.
      const seen: Batch[] = [];
      const watching = (async () => {
        for await (const b of jobdeck.watchBatch(batch.id)) seen.push(b);
      })();
      await waitFor(() => seen.length > 0, { what: 'the first batch state' });

      await startWorkers(3);
      const final = await waitFor(
        async () => {
          const b = await jobdeck.getBatch(batch.id);
          return b.status !== 'running' && b.onCompleteJobId !== null && b;
        },
        { timeoutMs: 120_000, intervalMs: 200, what: 'the batch to finish' },
      );
      const counts = await statusCounts(batch.id);
      expect(counts).toEqual({ succeeded: 980, failed: 20 });
      expect(final).toMatchObject({
        total: 1000,
        succeeded: 980,
        failed: 20,
        cancelled: 0,
        finished: 1000,
        percent: 100,
        status: 'completed',
      });
      expect(final.finishedAt).toBeInstanceOf(Date);

      // Every job ran once, and more than one worker process took part.
      const runs = await t.pool.query<{ n: number; workers: number }>(
        `select count(distinct r.job_id)::int as n, count(distinct r.worker_id)::int as workers
         from batch_runs r join jobdeck.jobs j on j.id = r.job_id where j.batch_id = $1`,
        [batch.id],
      );
      expect(runs.rows[0]!.n).toBe(1000);
      expect(runs.rows[0]!.workers).toBeGreaterThan(1);

      // The on-complete job ran once, with the summary, as the batch's owner.
      await waitFor(async () => (await doneRuns(batch.id)).length > 0, {
        timeoutMs: 30_000,
        what: 'the on-complete job',
      });
      const done = await doneRuns(batch.id);
      expect(done).toEqual([
        {
          job_id: final.onCompleteJobId,
          payload: {
            label: 'import-42',
            batch: { id: batch.id, total: 1000, succeeded: 980, failed: 20, cancelled: 0 },
          },
        },
      ]);
      const onComplete = await jobdeck.getJob(final.onCompleteJobId!);
      // the jobs took the batch's owner and organisation
      const owners = await t.pool.query<{ owner_id: string; org_id: string; n: number }>(
        'select owner_id, org_id, count(*)::int as n from jobdeck.jobs where batch_id = $1 group by 1, 2',
        [batch.id],
      );
      expect(owners.rows).toEqual([{ owner_id: 'alice', org_id: 'acme', n: 1000 }]);
      expect(onComplete).toMatchObject({
        type: 'batch_done',
        owner_id: 'alice',
        org_id: 'acme',
        related_type: 'batch',
        related_id: batch.id,
        batch_id: null,
      });

      await watching;
      expect(seen.at(-1)).toMatchObject({ finished: 1000, percent: 100 });
      for (let i = 1; i < seen.length; i++) {
        expect(seen[i]!.succeeded).toBeGreaterThanOrEqual(seen[i - 1]!.succeeded);
        expect(seen[i]!.failed).toBeGreaterThanOrEqual(seen[i - 1]!.failed);
        expect(seen[i]!.percent).toBeGreaterThanOrEqual(seen[i - 1]!.percent);
      }
      expect(seen.length).toBeGreaterThan(2);
    },
  );

  it('moves the counts back when a failed job is retried, and enqueues no second on-complete job', async () => {
    const batch = await jobdeck.enqueueBatch(
      [
        { type: 'batch_item', payload: { n: 1 } },
        { type: 'batch_item', payload: { n: 2, fail: true } },
      ],
      { onComplete: 'batch_done', payload: { label: 'retry' } },
    );
    await startWorkers(1);
    const finished = await waitFor(
      async () => {
        const b = await jobdeck.getBatch(batch.id);
        return b.onCompleteJobId !== null && b;
      },
      { timeoutMs: 30_000, what: 'the batch to finish' },
    );
    expect(finished).toMatchObject({ succeeded: 1, failed: 1, status: 'completed' });
    await stopWorkers();
    const failed = await t.pool.query<{ id: string }>(
      `select id from jobdeck.jobs where batch_id = $1 and status = 'failed'`,
      [batch.id],
    );
    await jobdeck.retryJob(failed.rows[0]!.id);
    expect(await jobdeck.getBatch(batch.id)).toMatchObject({
      succeeded: 1,
      failed: 0,
      status: 'running',
      finishedAt: null,
      onCompleteJobId: finished.onCompleteJobId,
    });
    await startWorkers(1);
    await waitFor(async () => (await jobdeck.getBatch(batch.id)).status !== 'running', {
      timeoutMs: 30_000,
      what: 'the retried job to finish',
    });
    expect(await jobdeck.getBatch(batch.id)).toMatchObject({
      failed: 1,
      onCompleteJobId: finished.onCompleteJobId,
    });
    const { rows } = await t.pool.query<{ n: number }>(
      `select count(*)::int as n from jobdeck.jobs where related_type = 'batch' and related_id = $1`,
      [batch.id],
    );
    expect(rows[0]!.n).toBe(1);
  });

  it('is all or none inside the caller’s transaction', async () => {
    const client = await t.pool.connect();
    try {
      await client.query('begin');
      const batch = await jobdeck.enqueueBatch([{ type: 'batch_item', payload: { n: 1 } }], {
        tx: client,
      });
      await client.query('rollback');
      await expect(jobdeck.getBatch(batch.id)).rejects.toBeInstanceOf(BatchNotFoundError);
      expect(await statusCounts(batch.id)).toEqual({});
    } finally {
      client.release();
    }
  });

  it('refuses bad input with a clear error and writes nothing', async () => {
    const before = await t.pool.query<{ jobs: number; batches: number }>(
      `select (select count(*) from jobdeck.jobs)::int as jobs, (select count(*) from jobdeck.batches)::int as batches`,
    );
    const ok = { type: 'batch_item', payload: { n: 1 } };
    await expect(jobdeck.enqueueBatch([])).rejects.toThrow(
      new InvalidArgumentError('a batch needs at least one job'),
    );
    await expect(jobdeck.enqueueBatch(Array.from({ length: 10_001 }, () => ok))).rejects.toThrow(
      /a batch holds at most 10000 jobs, got 10001/,
    );
    await expect(
      jobdeck.enqueueBatch([ok], { onComplete: 'no_such_type', payload: { label: 'x' } }),
    ).rejects.toSatisfy(
      (e) => e instanceof UnknownJobTypeError && /unknown job type "no_such_type"/.test(e.message),
    );
    // the on-complete payload is checked against its task's schema, with the outcome added
    await expect(
      jobdeck.enqueueBatch([ok], { onComplete: 'batch_done', payload: { label: 5 } }),
    ).rejects.toBeInstanceOf(InvalidPayloadError);
    await expect(
      jobdeck.enqueueBatch([ok, { type: 'batch_item', payload: { n: 'two' } }]),
    ).rejects.toSatisfy((e) => e instanceof InvalidPayloadError && /jobs\[1\]/.test(e.message));
    await expect(jobdeck.enqueueBatch([ok, { ...ok, key: 'k' }])).rejects.toThrow(
      /jobs\[1\]: a job of a batch cannot have a dedupe key/,
    );
    // the SQL function refuses the same, for callers of SQL
    await expect(t.pool.query(`select jobdeck.enqueue_batch('[]')`)).rejects.toThrow(
      /a batch needs at least one job/,
    );
    await expect(
      t.pool.query(
        `select jobdeck.enqueue_batch('[{"type":"batch_item","payload":{"n":1}}]', 'nope')`,
      ),
    ).rejects.toThrow(/unknown job type "nope"/);
    const after = await t.pool.query<{ jobs: number; batches: number }>(
      `select (select count(*) from jobdeck.jobs)::int as jobs, (select count(*) from jobdeck.batches)::int as batches`,
    );
    expect(after.rows[0]).toEqual(before.rows[0]);
  });
});

describe('cancelBatch()', () => {
  it('cancels every unfinished job, running ones through their worker, and completes the batch', async () => {
    const specs = Array.from({ length: 20 }, (_, n) => ({
      type: 'batch_item',
      payload: { n, sleepMs: n < 2 ? 0 : 60_000 },
      // the two quick ones first
      priority: n < 2 ? -10 : 0,
    }));
    const batch = await jobdeck.enqueueBatch(specs, {
      onComplete: 'batch_done',
      payload: { label: 'cancelled' },
    });
    await startWorkers(1); // concurrency 8: 2 quick jobs, then 8 running, 10 queued
    await waitFor(
      async () => {
        const counts = await statusCounts(batch.id);
        return counts.succeeded === 2 && counts.running === 8;
      },
      { timeoutMs: 30_000, what: 'two succeeded and eight running jobs' },
    );
    const cancelled = await jobdeck.cancelBatch(batch.id, 'not needed');
    expect(cancelled.succeeded).toBe(2);
    expect(cancelled.cancelled).toBe(10);
    expect(cancelled.cancelRequestedAt).toBeInstanceOf(Date);
    const final = await waitFor(
      async () => {
        const b = await jobdeck.getBatch(batch.id);
        return b.status !== 'running' && b.onCompleteJobId !== null && b;
      },
      { timeoutMs: 30_000, what: 'the running jobs to stop' },
    );
    expect(final).toMatchObject({ succeeded: 2, failed: 0, cancelled: 18, percent: 100 });
    expect(await statusCounts(batch.id)).toEqual({ succeeded: 2, cancelled: 18 });
    await waitFor(async () => (await doneRuns(batch.id)).length === 1, {
      timeoutMs: 30_000,
      what: 'the on-complete job',
    });
    // cancelling again changes nothing
    expect(await jobdeck.cancelBatch(batch.id)).toMatchObject({ succeeded: 2, cancelled: 18 });
  });

  it('says not found for an unknown batch', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    await expect(jobdeck.cancelBatch(id)).rejects.toBeInstanceOf(BatchNotFoundError);
    await expect(jobdeck.getBatch(id)).rejects.toBeInstanceOf(BatchNotFoundError);
    await expect(jobdeck.getBatch('not-a-uuid')).rejects.toBeInstanceOf(BatchNotFoundError);
  });
});

describe('row-level security on batches', () => {
  it('shows a batch to its owner and their organisation’s admin only, and lets no one else cancel it', async () => {
    const batch = await jobdeck.enqueueBatch([{ type: 'batch_item', payload: { n: 1 } }], {
      ownerId: 'alice',
      orgId: 'acme',
    });
    const api = openApiPool(t.url);
    const as = async <T>(
      role: string,
      sub: string,
      org: string,
      run: (client: pg.PoolClient) => Promise<T>,
    ): Promise<T> => {
      const client = await api.pool.connect();
      try {
        await client.query('begin');
        await client.query(`set local role ${role}`);
        await client.query(
          `select set_config('jwt.claims.sub', $1, true), set_config('jwt.claims.org', $2, true),
                  set_config('jwt.claims.permissions', '*', true)`,
          [sub, org],
        );
        return await run(client);
      } finally {
        await client.query('rollback');
        client.release();
      }
    };
    const visible = (role: string, sub: string, org: string) =>
      as(role, sub, org, async (c) => {
        const { rows } = await c.query('select id from jobdeck.batches where id = $1', [batch.id]);
        return rows.length;
      });
    try {
      expect(await visible('jobdeck_user', 'alice', 'acme')).toBe(1);
      expect(await visible('jobdeck_admin', 'root', 'acme')).toBe(1);
      expect(await visible('jobdeck_user', 'bob', 'acme')).toBe(0);
      expect(await visible('jobdeck_user', 'alice', 'globex')).toBe(0);
      expect(await visible('jobdeck_admin', 'root', 'globex')).toBe(0);
      await expect(
        as('jobdeck_user', 'bob', 'acme', (c) =>
          c.query('select jobdeck.cancel_batch($1)', [batch.id]),
        ),
      ).rejects.toThrow(`batch ${batch.id} not found`);
      // an API caller may not enqueue batches through SQL
      await expect(
        as('jobdeck_admin', 'root', 'acme', (c) =>
          c.query(`select jobdeck.enqueue_batch('[{"type":"batch_item","payload":{"n":1}}]')`),
        ),
      ).rejects.toThrow(/permission denied|enqueue_batch/);
      const status = await as('jobdeck_user', 'alice', 'acme', async (c) => {
        const { rows } = await c.query<{ cancelled: number }>(
          'select (jobdeck.cancel_batch($1)).cancelled',
          [batch.id],
        );
        return rows[0]!.cancelled;
      });
      expect(status).toBe(1); // rolled back afterwards
    } finally {
      await api.close();
    }
    expect(await statusCounts(batch.id)).toEqual({ queued: 1 });
  });
});

describe('GET /api/v2/batches/:id/events', () => {
  it('streams the batch’s counts as its jobs finish, never going back, then the end', async () => {
    const server = await startTestServer(t);
    const batch = await jobdeck.enqueueBatch(
      Array.from({ length: 30 }, (_, n) => ({ type: 'batch_item', payload: { n, fail: n < 3 } })),
      { ownerId: 'alice', orgId: 'acme' },
    );
    const url = `${server.url}/api/v2/batches/${batch.id}/events`;
    const bob = await openStream(url, await tokenFor('bob', 'acme'));
    expect(bob.response.status).toBe(404);
    await bob.close();
    const stream = await openStream(url, await tokenFor('alice', 'acme'));
    expect(stream.response.status).toBe(200);
    await waitFor(() => stream.events.length > 0, { what: 'the first event' });
    await startWorkers(2);
    await waitFor(() => stream.ended(), { timeoutMs: 60_000, what: 'the stream to end' });
    const states = stream.events.filter((e) => e.event === 'batch').map((e) => e.data);
    expect(states[0]).toMatchObject({ id: batch.id, total: 30 });
    expect(states.at(-1)).toMatchObject({
      succeeded: 27,
      failed: 3,
      finished: 30,
      percent: 100,
      status: 'completed',
    });
    for (let i = 1; i < states.length; i++)
      expect(states[i]!['finished'] as number).toBeGreaterThan(
        states[i - 1]!['finished'] as number,
      );
    expect(stream.events.at(-1)).toEqual({
      event: 'end',
      data: { id: batch.id, status: 'completed' },
    });
  });
});

describe('jobdeck watch <batch-id> and jobdeck batch <id>', () => {
  it('follows a batch live until it finishes, and shows and cancels one', async () => {
    const batch = await jobdeck.enqueueBatch(
      Array.from({ length: 5 }, (_, n) => ({ type: 'batch_item', payload: { n, fail: n === 0 } })),
    );
    const watching = runCli(['watch', batch.id], env, { timeoutMs: 60_000 });
    await startWorkers(1);
    const watched = await watching;
    expect(watched.stderr).not.toMatch(/not found/);
    expect(watched.code).toBe(1); // one job failed
    expect(watched.stdout).toContain(
      'batch completed 100% (5/5: 4 succeeded, 1 failed, 0 cancelled)',
    );

    const shown = await runCli(['batch', batch.id, '--json'], env);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: batch.id, finished: 5, percent: 100 });

    await stopWorkers();
    const later = await jobdeck.enqueueBatch([
      { type: 'batch_item', payload: { n: 1 } },
      { type: 'batch_item', payload: { n: 2 } },
    ]);
    const cancelled = await runCli(['batch', later.id, '--cancel', '--reason', 'test'], env);
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toContain(
      `batch ${later.id}: completed 100% (2/2: 0 succeeded, 0 failed, 2 cancelled)`,
    );

    const missing = await runCli(['watch', '00000000-0000-4000-8000-000000000000'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not found/);
    const usage = await runCli(['batch'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/batch needs exactly one batch id/);
  });
});

describe('GraphQL: batch(id), cancelBatch and the batchUpdated subscription', () => {
  interface Change {
    batchUpdated: {
      kind: string;
      finished: number | null;
      total: number | null;
      batch: { finished: number; percent: number } | null;
    };
  }
  const SUBSCRIPTION = `subscription ($id: UUID!) { batchUpdated(id: $id) {
    kind finished total batch { finished percent } } }`;

  /** Subscribes over graphql-ws; `events` fill as they arrive. */
  function subscribeTo(url: string, token: string, id: string) {
    const client = createClient({
      url: `${url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${token}` },
    });
    const events: Change[] = [];
    const errors: unknown[] = [];
    const stop = client.subscribe<Change>(
      { query: SUBSCRIPTION, variables: { id } },
      {
        next: (value) => {
          if (value.errors) errors.push(...value.errors);
          if (value.data) events.push(value.data as Change);
        },
        error: (error) => errors.push(error),
        complete: () => {},
      },
    );
    return {
      events,
      errors,
      close: async () => {
        stop();
        await client.dispose();
      },
    };
  }

  it('shows a batch to its owner, pushes its counts as jobs finish, and cancels it', async () => {
    const server = await startTestServer(t);
    const alice = await tokenFor('alice', 'acme');
    const bob = await tokenFor('bob', 'acme');
    const batch = await jobdeck.enqueueBatch(
      Array.from({ length: 40 }, (_, n) => ({ type: 'batch_item', payload: { n, fail: n < 4 } })),
      { ownerId: 'alice', orgId: 'acme' },
    );
    const query = `query ($id: UUID!) { batch(id: $id) { id total succeeded failed cancelled finished percent onCompleteJobId } }`;
    const shown = await gql(server, query, { variables: { id: batch.id }, token: alice });
    expect(shown.errors).toBeUndefined();
    expect(shown.data).toEqual({
      batch: {
        id: batch.id,
        total: 40,
        succeeded: 0,
        failed: 0,
        cancelled: 0,
        finished: 0,
        percent: 0,
        onCompleteJobId: null,
      },
    });
    expect((await gql(server, query, { variables: { id: batch.id }, token: bob })).data).toEqual({
      batch: null,
    });

    const mine = subscribeTo(server.url, alice, batch.id);
    const theirs = subscribeTo(server.url, bob, batch.id);
    try {
      // Hints until the subscriptions are listening (a NOTIFY makes the hub re-read the batch).
      await waitFor(
        async () => {
          await t.pool.query('select jobdeck_private.notify_batches(array[$1::uuid])', [batch.id]);
          return mine.events.length > 0;
        },
        { intervalMs: 100, what: 'the subscription to listen' },
      );
      await startWorkers(2);
      await waitFor(() => mine.events.some((e) => e.batchUpdated.finished === 40), {
        timeoutMs: 60_000,
        what: 'the last change',
      });
      expect(mine.errors).toEqual([]);
      const finished = mine.events.map((e) => e.batchUpdated.finished ?? -1);
      expect([...finished].sort((a, b) => a - b)).toEqual(finished);
      expect(mine.events.at(-1)!.batchUpdated).toEqual({
        kind: 'CHANGED',
        finished: 40,
        total: 40,
        batch: { finished: 40, percent: 100 },
      });
      // another user of the organisation hears nothing of alice's batch
      expect(theirs.events).toEqual([]);
    } finally {
      await mine.close();
      await theirs.close();
    }

    const later = await jobdeck.enqueueBatch(
      [{ type: 'batch_item', payload: { n: 1, sleepMs: 60_000 } }],
      {
        ownerId: 'alice',
        orgId: 'acme',
      },
    );
    await stopWorkers();
    const mutation = `mutation ($id: UUID!) { cancelBatch(input: { id: $id }) { batch { cancelled percent } } }`;
    const refused = await gql(server, mutation, { variables: { id: later.id }, token: bob });
    expect(refused.errors?.[0]?.message).toMatch(/not found/);
    const done = await gql(server, mutation, { variables: { id: later.id }, token: alice });
    expect(done.errors).toBeUndefined();
    expect(done.data).toEqual({ cancelBatch: { batch: { cancelled: 1, percent: 100 } } });
  });
});
