import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { loadTasks } from '../../src/jobs/registry.ts';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';
import { ROOT, startCli, workerEnv } from '../helpers/cli.ts';

type Child = Awaited<ReturnType<typeof startCli>>;

const TASKS_DIR = path.join(ROOT, 'test/fixtures/fair-tasks');
const BACKLOG = 400;
const SMALL = 5;
/** Each job sleeps this long, on 2 processes × 5 at once: half the backlog takes ≥ 2 s. */
const SLEEP_MS = 50;

/**
 * Fair turns between tenants (issue 20, item 4) with two `jobdeck worker` processes on one
 * database: organisation A's backlog is running when organisation B enqueues a few jobs, and B's
 * jobs take their turns at the front on both processes. Only the order of starts is asserted (the
 * rows' started_at), never how fast anything ran.
 */
describe('fair turns across two worker processes', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;
  let dataDir: string;
  const children: Child[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    jobdeck = createJobdeck({ pool: t.pool });
    dataDir = mkdtempSync(path.join(tmpdir(), 'jobdeck-fair-'));
    await registerTasks(t, await loadTasks(TASKS_DIR));
    const env = workerEnv(t.url, TASKS_DIR, {
      JOBDECK_DATA_DIR: dataDir,
      JOBDECK_POLL_INTERVAL_MS: '100',
      JOBDECK_LOG_LEVEL: 'warn',
      JOBDECK_CONCURRENCY: '5',
      JOBDECK_LOCAL_QUEUE_SIZE: '0',
    });
    children.push(...(await Promise.all([startCli(['worker'], env), startCli(['worker'], env)])));
  }, 60_000);
  afterAll(async () => {
    const running = children.splice(0);
    for (const c of running) c.child.kill('SIGTERM');
    await Promise.all(running.map((c) => c.exited));
    await jobdeck?.close();
    await t?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function startedCount(ids: string[]): Promise<number> {
    const { rows } = await t.pool.query<{ n: number }>(
      `select count(*)::int as n from jobdeck.jobs where id = any($1) and started_at is not null`,
      [ids],
    );
    return rows[0]!.n;
  }

  async function succeededCount(ids: string[]): Promise<number> {
    const { rows } = await t.pool.query<{ n: number }>(
      `select count(*)::int as n from jobdeck.jobs where id = any($1) and status = 'succeeded'`,
      [ids],
    );
    return rows[0]!.n;
  }

  it("starts the small organisation's jobs before half of the big one's backlog", async () => {
    const big = await jobdeck.enqueueJobs(
      Array.from({ length: BACKLOG }, () => ({
        type: 'fair_sleep',
        payload: { sleepMs: SLEEP_MS },
        orgId: 'org-a',
      })),
    );
    const bigIds = big.map((j) => j.id);
    // B arrives while A's backlog runs.
    await waitFor(async () => (await startedCount(bigIds)) >= 10, {
      timeoutMs: 20_000,
      what: "org-a's first jobs to start",
    });
    const small = await jobdeck.enqueueJobs(
      Array.from({ length: SMALL }, () => ({
        type: 'fair_sleep',
        payload: { sleepMs: SLEEP_MS },
        orgId: 'org-b',
      })),
    );
    const smallIds = small.map((j) => j.id);
    await waitFor(async () => (await startedCount(smallIds)) === SMALL, {
      timeoutMs: 20_000,
      what: "org-b's jobs to start",
    }).catch((error: unknown) => {
      for (const c of children) console.error(c.output());
      throw error;
    });

    // Once every job has finished, every row holds its start (a worker on its fast path writes
    // started_at, its own clock at the start, a little later). Then the order, from the rows: how
    // many of A's jobs had started when B's jobs were enqueued (created_at, the enqueue
    // transaction's time) and when B's last job started.
    await waitFor(
      async () => (await succeededCount([...bigIds, ...smallIds])) === BACKLOG + SMALL,
      {
        timeoutMs: 30_000,
        what: 'every job to finish',
      },
    );
    const { rows } = await t.pool.query<{ at_arrival: number; before: number; processes: number }>(
      `with b as (select min(created_at) as arrived, max(started_at) as last
                    from jobdeck.jobs where id = any($2))
       select count(*) filter (where a.started_at < b.arrived)::int as at_arrival,
              count(*) filter (where a.started_at <= b.last)::int as before,
              (select count(distinct worker_id)::int from jobdeck.jobs
                where id = any($1) or id = any($2)) as processes
         from jobdeck.jobs a, b where a.id = any($1)`,
      [bigIds, smallIds],
    );
    const { at_arrival: atArrival, before, processes } = rows[0]!;
    console.info(
      `fair turns, two worker processes: org-b arrived after ${atArrival} of org-a's ${BACKLOG} jobs had started; all ${SMALL} of org-b's jobs started after ${before} of org-a's had`,
    );
    // B arrived while more than half of A's backlog was still to start, and all of B started
    // before half of it had.
    expect(atArrival).toBeLessThan(BACKLOG / 2);
    expect(before).toBeLessThan(BACKLOG / 2);
    // Both processes took part.
    expect(processes).toBe(2);
  }, 60_000);
});
