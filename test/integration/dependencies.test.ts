import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { InvalidArgumentError } from '../../src/errors.ts';
import { loadTasks } from '../../src/jobs/registry.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { ROOT } from '../helpers/cli.ts';
import { createTestDatabase, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

/**
 * Job dependencies (issue 21, item 3) from TypeScript and SQL: a job waits, out of Graphile
 * Worker's queue, until its dependencies succeed; failures cancel or run dependants by their
 * policy; graphs in one call, cycles refused; a child reads its parents' results.
 */
const TASKS_DIR = path.join(ROOT, 'test/fixtures/dep-tasks');

let t: TestDatabase;
let jobdeck: Jobdeck;
let tasks: TaskRegistry;

const step = (n: number, extra: Record<string, unknown> = {}) => ({ n, ...extra });

async function gwJobs(ids: string[]): Promise<number> {
  const { rows } = await t.pool.query<{ n: number }>(
    `select count(*)::int as n from graphile_worker.jobs g
      where g.id in (select gw_job_id from jobdeck.jobs where id = any($1::uuid[]))`,
    [ids],
  );
  return rows[0]!.n;
}

async function waitingFor(id: string): Promise<string[]> {
  const { rows } = await t.pool.query<{ w: string[] }>(
    'select jobdeck.jobs_waiting_for(j) as w from jobdeck.jobs j where j.id = $1',
    [id],
  );
  return rows[0]!.w;
}

async function jobCount(): Promise<number> {
  const { rows } = await t.pool.query<{ n: number }>('select count(*)::int as n from jobdeck.jobs');
  return rows[0]!.n;
}

async function runs(): Promise<{ job_id: string; n: number; attempt: number; parents: unknown }[]> {
  const { rows } = await t.pool.query(
    'select job_id, n, attempt, parents from dep_runs order by started_at',
  );
  return rows;
}

beforeAll(async () => {
  t = await createTestDatabase();
  jobdeck = createJobdeck({ connectionString: t.url });
  tasks = await loadTasks(TASKS_DIR);
  await registerTasks(t, tasks);
  await t.pool.query(
    'create table dep_runs (job_id uuid, n int, attempt int, started_at timestamptz, parents jsonb)',
  );
});
afterEach(async () => {
  await stopWorkers();
  await t.pool.query('truncate dep_runs');
});
afterAll(async () => {
  await stopWorkers();
  await jobdeck.close();
  await t.drop();
});

describe('enqueueJob() with dependsOn', () => {
  it('keeps the job waiting, out of the queue, until its dependency succeeds; then it reads its result', async () => {
    const parent = await jobdeck.enqueueJob('dep_step', step(1));
    const child = await jobdeck.enqueueJob('dep_step', step(2), { dependsOn: [parent.id] });
    expect(child).toMatchObject({
      status: 'waiting',
      depends_on: [parent.id],
      on_dependency_failure: 'cancel',
      gw_job_id: null,
    });
    expect(await waitingFor(child.id)).toEqual([parent.id]);
    expect((await jobdeck.getJob(parent.id)).has_dependants).toBe(true);
    expect(await gwJobs([child.id])).toBe(0);

    await runTestWorker(t, tasks);
    const done = await waitForStatus(jobdeck, child.id, 'succeeded');
    expect(await waitingFor(child.id)).toEqual([]);
    const order = await runs();
    expect(order.map((r) => r.n)).toEqual([1, 2]);
    expect(order[1]!.parents).toEqual([
      { id: parent.id, type: 'dep_step', status: 'succeeded', result: { n: 1 } },
    ]);
    expect(done.result).toEqual({ n: 2 });
  });

  it('gives a task with limits (its own process) its parents too', async () => {
    const parent = await jobdeck.enqueueJob('dep_step', step(1));
    const child = await jobdeck.enqueueJob('dep_isolated', {}, { dependsOn: [parent.id] });
    await runTestWorker(t, tasks);
    const done = await waitForStatus(jobdeck, child.id, 'succeeded', { timeoutMs: 30_000 });
    expect(done.result).toEqual({
      parents: [{ id: parent.id, type: 'dep_step', status: 'succeeded', result: { n: 1 } }],
    });
  });

  it('runs at once when its dependencies already succeeded', async () => {
    await runTestWorker(t, tasks);
    const parent = await jobdeck.enqueueJob('dep_step', step(1));
    await waitForStatus(jobdeck, parent.id, 'succeeded');
    const child = await jobdeck.enqueueJob('dep_step', step(2), { dependsOn: [parent.id] });
    expect(child.status).toBe('queued');
    expect(child.gw_job_id).not.toBeNull();
    await waitForStatus(jobdeck, child.id, 'succeeded');
  });

  it('applies the policy at enqueue to a dependency that already failed', async () => {
    await runTestWorker(t, tasks);
    const failed = await jobdeck.enqueueJob('dep_step', step(1, { fail: true }));
    await waitForStatus(jobdeck, failed.id, 'failed');
    const cancelled = await jobdeck.enqueueJob('dep_step', step(2), { dependsOn: [failed.id] });
    expect(cancelled).toMatchObject({
      status: 'cancelled',
      cancel_reason: `dependency ${failed.id} failed`,
    });
    const runs2 = await jobdeck.enqueueJob('dep_step', step(3), {
      dependsOn: [failed.id],
      onDependencyFailure: 'run',
    });
    expect(runs2.status).toBe('queued');
    await waitForStatus(jobdeck, runs2.id, 'succeeded');
  });

  it('refuses an unknown dependency, naming it, and bad options, before anything is written', async () => {
    const missing = '00000000-0000-4000-8000-000000000001';
    const before = await jobCount();
    await expect(jobdeck.enqueueJob('dep_step', step(1), { dependsOn: [missing] })).rejects.toThrow(
      new RegExp(`depends_on: job ${missing} not found`),
    );
    await expect(
      jobdeck.enqueueJob('dep_step', step(1), { dependsOn: [missing] }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(
      jobdeck.enqueueJob('dep_step', step(1), { dependsOn: ['not-an-id'] }),
    ).rejects.toThrow(/dependsOn must list job ids \(UUIDs\), got not-an-id/);
    const parent = await jobdeck.enqueueJob('dep_step', step(1));
    await expect(
      jobdeck.enqueueJob('dep_step', step(2), {
        dependsOn: [parent.id],
        onDependencyFailure: 'maybe' as 'run',
      }),
    ).rejects.toThrow(/onDependencyFailure must be cancel or run, got maybe/);
    await expect(
      jobdeck.enqueueJob('dep_step', step(2), { dependsOn: [parent.id], key: 'k' }),
    ).rejects.toThrow(/key cannot be combined with dependsOn/);
    await expect(
      jobdeck.enqueueJobs([{ type: 'dep_step', payload: step(2), dependsOn: [parent.id] }]),
    ).rejects.toThrow(/jobs\[0\]: dependsOn is not taken here/);
    await expect(
      jobdeck.enqueueFromTemplate('any', {}, { dependsOn: [parent.id] }),
    ).rejects.toThrow(/dependsOn is not taken by enqueueFromTemplate/);
    expect(await jobCount()).toBe(before + 1);
  });

  it('works from SQL: jobdeck.enqueue(..., depends_on => ..., on_dependency_failure => ...)', async () => {
    const parent = await jobdeck.enqueueJob('dep_step', step(1));
    const { rows } = await t.pool.query(
      `select id, status, depends_on, on_dependency_failure from jobdeck.enqueue('dep_step', '{"n": 2}',
         depends_on => array[$1]::uuid[], on_dependency_failure => 'run')`,
      [parent.id],
    );
    expect(rows[0]).toMatchObject({
      status: 'waiting',
      depends_on: [parent.id],
      on_dependency_failure: 'run',
    });
    // old calls keep working
    const plain = await t.pool.query(`select status from jobdeck.enqueue('dep_step', '{"n": 3}')`);
    expect(plain.rows[0].status).toBe('queued');
    await expect(
      t.pool.query(
        `select jobdeck.enqueue('dep_step', '{"n": 4}', on_dependency_failure => 'run')`,
      ),
    ).rejects.toThrow(/on_dependency_failure needs depends_on/);
    await runTestWorker(t, tasks);
    await waitForStatus(jobdeck, rows[0].id, 'succeeded');
  });
});

describe('a dependency that fails', () => {
  it('cancels its dependants transitively (policy cancel) and runs those with policy run', async () => {
    const g = await jobdeck.enqueueGraph({
      jobs: {
        a: { type: 'dep_step', payload: step(1, { fail: true }) },
        b: { type: 'dep_step', payload: step(2), dependsOn: ['a'] },
        c: { type: 'dep_step', payload: step(3), dependsOn: ['b'] },
        d: { type: 'dep_step', payload: step(4), dependsOn: ['a'], onDependencyFailure: 'run' },
        e: { type: 'dep_step', payload: step(5), dependsOn: ['d'] },
      },
    });
    await runTestWorker(t, tasks);
    await waitForStatus(jobdeck, g['e']!.id, 'succeeded');
    const a = g['a']!.id;
    for (const ref of ['b', 'c']) {
      const job = await jobdeck.getJob(g[ref]!.id);
      expect(job).toMatchObject({ status: 'cancelled', cancel_reason: `dependency ${a} failed` });
    }
    const order = (await runs()).map((r) => r.n);
    expect(order).toEqual([1, 4, 5]);
    const d = (await runs()).find((r) => r.n === 4)!;
    expect(d.parents).toEqual([{ id: a, type: 'dep_step', status: 'failed', result: null }]);
  });

  it('cancelling a waiting job by hand cancels its dependants; retrying a failed one revives them', async () => {
    const a = await jobdeck.enqueueJob('dep_step', step(1, { sleepMs: 300 }));
    const g = await jobdeck.enqueueGraph({
      jobs: {
        b: { type: 'dep_step', payload: step(2), dependsOn: [a.id] },
        c: { type: 'dep_step', payload: step(3), dependsOn: ['b'] },
      },
    });
    await jobdeck.cancelJob(g['b']!.id, 'not needed');
    expect(await jobdeck.getJob(g['c']!.id)).toMatchObject({
      status: 'cancelled',
      cancel_reason: `dependency ${g['b']!.id} was cancelled`,
    });

    const f = await jobdeck.enqueueJob('dep_step', step(4, { fail: true }));
    const h = await jobdeck.enqueueGraph({
      jobs: {
        x: { type: 'dep_step', payload: step(5), dependsOn: [f.id] },
        y: { type: 'dep_step', payload: step(6), dependsOn: ['x'] },
      },
    });
    const worker = await runTestWorker(t, tasks);
    await waitForStatus(jobdeck, h['y']!.id, 'cancelled');
    await worker.stop();
    // Retried by hand (with a payload that now succeeds): x and y wait again, then run.
    await t.pool.query(`update jobdeck.jobs set payload = '{"n": 4}' where id = $1`, [f.id]);
    await jobdeck.retryJob(f.id);
    expect((await jobdeck.getJob(h['x']!.id)).status).toBe('waiting');
    expect((await jobdeck.getJob(h['y']!.id)).status).toBe('waiting');
    await runTestWorker(t, tasks);
    await waitForStatus(jobdeck, h['y']!.id, 'succeeded');
    // the job cancelled by hand stays cancelled
    await waitForStatus(jobdeck, a.id, 'succeeded');
    expect((await jobdeck.getJob(g['b']!.id)).status).toBe('cancelled');
  });
});

describe('a long chain', () => {
  it('is cancelled, and revived by a retry, in one statement each, however deep', async () => {
    const jobs: Record<string, { type: string; payload: unknown; dependsOn?: string[] }> = {
      c0: { type: 'dep_step', payload: step(0, { fail: true }) },
    };
    for (let i = 1; i < 300; i++)
      jobs[`c${i}`] = { type: 'dep_step', payload: step(i), dependsOn: [`c${i - 1}`] };
    const g = await jobdeck.enqueueGraph({ jobs });
    const ids = Object.values(g).map((job) => job.id);
    const root = g['c0']!.id;
    const count = async (status: string) => {
      const { rows } = await t.pool.query<{ n: number }>(
        'select count(*)::int as n from jobdeck.jobs where id = any($1::uuid[]) and status = $2',
        [ids, status],
      );
      return rows[0]!.n;
    };
    expect(await count('waiting')).toBe(299);
    await jobdeck.cancelJob(root);
    expect(await count('cancelled')).toBe(300);
    await jobdeck.retryJob(root);
    expect(await count('waiting')).toBe(299);
    expect((await jobdeck.getJob(g['c299']!.id)).cancel_reason).toBeNull();
    await jobdeck.cancelJob(root); // nothing of it left for the next tests' workers
    expect(await count('cancelled')).toBe(300);
  });
});

describe('enqueueGraph()', () => {
  it('enqueues a fan-out / fan-in graph in one call and runs it in order', async () => {
    const g = await jobdeck.enqueueGraph({
      jobs: {
        d: { type: 'dep_step', payload: step(4), dependsOn: ['b', 'c'] },
        a: { type: 'dep_step', payload: step(1) },
        b: { type: 'dep_step', payload: step(2), dependsOn: ['a'] },
        c: { type: 'dep_step', payload: step(3), dependsOn: ['a'] },
      },
    });
    expect(Object.keys(g).sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(g['a']!.status).toBe('queued');
    expect(g['d']).toMatchObject({ status: 'waiting' });
    expect([...g['d']!.depends_on!].sort()).toEqual([g['b']!.id, g['c']!.id].sort());
    await runTestWorker(t, tasks);
    await waitForStatus(jobdeck, g['d']!.id, 'succeeded');
    const order = await runs();
    expect(order[0]!.n).toBe(1);
    expect(order[3]!.n).toBe(4);
    const parents = order[3]!.parents as { id: string; result: unknown }[];
    expect(
      parents
        .map((p) => p.result)
        .sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))),
    ).toEqual([{ n: 2 }, { n: 3 }]);
  });

  it('refuses a cycle, naming its refs, and unknown refs; nothing is written', async () => {
    const before = await jobCount();
    await expect(
      jobdeck.enqueueGraph({
        jobs: {
          a: { type: 'dep_step', payload: step(1) },
          b: { type: 'dep_step', payload: step(2), dependsOn: ['a', 'c'] },
          c: { type: 'dep_step', payload: step(3), dependsOn: ['b'] },
        },
      }),
    ).rejects.toThrow(/the dependencies of "b", "c" form a cycle/);
    await expect(
      jobdeck.enqueueGraph({
        jobs: { a: { type: 'dep_step', payload: step(1), dependsOn: ['zz'] } },
      }),
    ).rejects.toThrow(/jobs.a: dependsOn "zz" is neither a ref of this call nor a job id/);
    await expect(
      jobdeck.enqueueGraph({
        jobs: {
          a: { type: 'dep_step', payload: step(1) },
          b: { type: 'dep_step', payload: { n: 'two' }, dependsOn: ['a'] },
        },
      }),
    ).rejects.toThrow(/jobs.b: /);
    expect(await jobCount()).toBe(before);
  });

  it("enqueues in the caller's transaction: rolled back, it leaves nothing", async () => {
    const before = await jobCount();
    const gwBefore = await t.pool.query('select count(*)::int as n from graphile_worker.jobs');
    const client = await t.pool.connect();
    try {
      await client.query('begin');
      const g = await jobdeck.enqueueGraph(
        {
          jobs: {
            a: { type: 'dep_step', payload: step(1) },
            b: { type: 'dep_step', payload: step(2), dependsOn: ['a'] },
          },
        },
        { tx: client },
      );
      expect(g['b']!.status).toBe('waiting');
      await client.query('rollback');
    } finally {
      client.release();
    }
    expect(await jobCount()).toBe(before);
    const gw = await t.pool.query('select count(*)::int as n from graphile_worker.jobs');
    expect(gw.rows[0].n).toBe(gwBefore.rows[0].n);
  });
});
