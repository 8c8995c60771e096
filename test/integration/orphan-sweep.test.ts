import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { OrphanSweep } from '../../src/worker/orphan-sweep.ts';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/db.ts';
import { recordingLogger, registerTasks } from '../helpers/worker.ts';

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  ['quick', defineTask({ run: () => null })],
]);
const later = { runAt: new Date(Date.now() + 3_600_000) };

describe('OrphanSweep', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, tasks);
    jobdeck = createJobdeck({ pool: t.pool });
  });
  afterAll(async () => {
    await jobdeck.close();
    await t.drop();
  });

  /** Waiting jobs whose Graphile job is gone, as a crash between Worker's completion and the finish leaves them. */
  async function orphans(n: number) {
    const jobs = await jobdeck.enqueueJobs(
      Array.from({ length: n }, () => ({ type: 'quick', runAt: later.runAt })),
    );
    await t.pool.query('select graphile_worker.complete_jobs($1::bigint[])', [
      jobs.map((j) => j.gw_job_id),
    ]);
    return jobs;
  }

  async function requeued(ids: string[]): Promise<number> {
    const { rows } = await t.pool.query<{ n: number }>(
      `select count(*)::int as n from jobdeck.job_events
        where job_id = any($1::uuid[]) and kind = 'control' and message like 'requeued:%'`,
      [ids],
    );
    return rows[0]!.n;
  }

  async function cancelAll(ids: string[]) {
    await t.pool.query(
      `update jobdeck.jobs set status = 'cancelled', finished_at = now() where id = any($1::uuid[])`,
      [ids],
    );
  }

  it('requeues an orphan found by one sweep at the first sweep rescueAfterMs later', async () => {
    const [job] = await orphans(1);
    const logger = recordingLogger();
    const sweep = new OrphanSweep({ pool: t.pool, logger, rescueAfterMs: 300, intervalMs: 100 });
    await sweep.runOnce();
    await sweep.runOnce();
    // Found, not requeued yet: its finish may still be on its way.
    expect((await jobdeck.getJob(job!.id)).gw_job_id).toBe(job!.gw_job_id);
    await waitFor(
      async () => {
        await sweep.runOnce();
        return (await jobdeck.getJob(job!.id)).gw_job_id !== job!.gw_job_id;
      },
      { what: 'the orphan to get a new Graphile job' },
    );
    expect(await requeued([job!.id])).toBe(1);
    expect(logger.warnings).toEqual([
      'requeued 1 job(s) whose Graphile Worker job was gone (a worker stopped before recording their outcome)',
    ]);
    await cancelAll([job!.id]);
  });

  it('leaves a candidate alone whose finish landed in the meantime', async () => {
    const [job] = await orphans(1);
    const sweep = new OrphanSweep({
      pool: t.pool,
      logger: recordingLogger(),
      rescueAfterMs: 0,
      intervalMs: 100,
    });
    await sweep.runOnce();
    await cancelAll([job!.id]);
    await sweep.runOnce();
    expect(await requeued([job!.id])).toBe(0);
  });

  it('reads a bounded page per sweep, walking a large backlog over successive sweeps', async () => {
    const jobs = await orphans(12);
    const ids = jobs.map((j) => j.id);
    const sweep = new OrphanSweep({
      pool: t.pool,
      logger: recordingLogger(),
      rescueAfterMs: 0,
      intervalMs: 100,
      pageSize: 5,
    });
    await sweep.runOnce(); // finds the first page
    await sweep.runOnce(); // requeues it, finds the second
    expect(await requeued(ids)).toBe(5);
    for (let i = 0; i < 6; i++) await sweep.runOnce();
    expect(await requeued(ids)).toBe(12);
    await cancelAll(ids);
  });
});
