import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import type { GraphJobSpec } from '../../src/jobs/graph.ts';
import { loadTasks } from '../../src/jobs/registry.ts';
import { ROOT, runCli, workerProcesses, workerEnv } from '../helpers/cli.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';

/**
 * Job dependencies across processes (issue 21, items 3 and 6): a seeded 100-job graph with
 * fan-out and fan-in, some jobs failing their first attempt, run by three `jobdeck worker`
 * processes in a valid order; the CLI's `enqueue --depends-on` and `signal`.
 */
const TASKS_DIR = path.join(ROOT, 'test/fixtures/dep-tasks');

let t: TestDatabase;
let jobdeck: Jobdeck;
let env: Record<string, string>;
let dataDir: string;
const workers = workerProcesses(() => env);
const startWorkers = (n: number) => workers.start(n);
const stopWorkers = () => workers.stop();

/** A small seeded PRNG (mulberry32), so the graph is the same on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/** 100 jobs in 8 layers; each job after the first layer depends on 1 to 3 earlier jobs. */
function seededGraph(seed: number): Record<string, GraphJobSpec> {
  const rand = random(seed);
  const sizes = [6, 10, 16, 20, 18, 14, 10, 6];
  const layers: string[][] = [];
  const jobs: Record<string, GraphJobSpec> = {};
  let n = 0;
  for (const [index, size] of sizes.entries()) {
    const layer: string[] = [];
    for (let i = 0; i < size; i++, n++) {
      const ref = `j${n}`;
      const earlier = layers.flat();
      const deps = new Set<string>();
      if (index > 0) {
        const previous = layers[index - 1]!;
        deps.add(previous[Math.floor(rand() * previous.length)]!);
        const more = Math.floor(rand() * 3);
        for (let k = 0; k < more; k++) deps.add(earlier[Math.floor(rand() * earlier.length)]!);
      }
      jobs[ref] = {
        type: 'dep_step',
        payload: { n, failFirst: rand() < 0.2, sleepMs: Math.floor(rand() * 20) },
        ...(deps.size > 0 ? { dependsOn: [...deps] } : {}),
      };
      layer.push(ref);
    }
    layers.push(layer);
  }
  return jobs;
}

beforeAll(async () => {
  t = await createTestDatabase();
  jobdeck = createJobdeck({ connectionString: t.url });
  dataDir = mkdtempSync(path.join(tmpdir(), 'jobdeck-deps-'));
  env = workerEnv(t.url, TASKS_DIR, { JOBDECK_DATA_DIR: dataDir, JOBDECK_CONCURRENCY: '4' });
  await registerTasks(t, await loadTasks(TASKS_DIR));
  await t.pool.query(
    'create table dep_runs (job_id uuid, n int, attempt int, started_at timestamptz, parents jsonb)',
  );
});
afterEach(async () => {
  await stopWorkers();
});
afterAll(async () => {
  await stopWorkers();
  await jobdeck.close();
  await t.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a 100-job dependency graph', () => {
  it(
    'runs on three worker processes, every job only after all its parents succeeded, under retries',
    { timeout: 240_000 },
    async () => {
      const specs = seededGraph(21);
      const graph = await jobdeck.enqueueGraph({ jobs: specs });
      const ids = Object.values(graph).map((job) => job.id);
      expect(ids).toHaveLength(100);
      const edges = Object.entries(specs).flatMap(([ref, spec]) =>
        (spec.dependsOn ?? []).map((parent) => ({
          parent: graph[parent]!.id,
          child: graph[ref]!.id,
        })),
      );
      expect(edges.length).toBeGreaterThan(150);
      const retried = Object.values(specs).filter(
        (spec) => (spec.payload as { failFirst: boolean }).failFirst,
      ).length;
      expect(retried).toBeGreaterThan(10);

      await startWorkers(3);
      await waitFor(
        async () => {
          const { rows } = await t.pool.query<{ n: number }>(
            `select count(*)::int as n from jobdeck.jobs where id = any($1::uuid[]) and status = 'succeeded'`,
            [ids],
          );
          return rows[0]!.n === 100;
        },
        { timeoutMs: 180_000, intervalMs: 250, what: 'all 100 jobs to succeed' },
      );

      // Every edge: each run of the child started after its parent's successful end, and the
      // child read the parent as succeeded.
      const { rows: late } = await t.pool.query(
        `select e.parent, e.child, r.started_at, p.finished_at
           from jsonb_to_recordset($1::jsonb) as e(parent uuid, child uuid)
           join jobdeck.jobs p on p.id = e.parent
           join dep_runs r on r.job_id = e.child
          where r.started_at <= p.finished_at
             or not exists (select 1 from jsonb_array_elements(r.parents) x
                             where (x ->> 'id')::uuid = e.parent and x ->> 'status' = 'succeeded')`,
        [JSON.stringify(edges)],
      );
      expect(late).toEqual([]);

      // The jobs that fail their first attempt ran twice, the others once; nothing else ran.
      const { rows: counts } = await t.pool.query<{ attempts: number; jobs: number }>(
        `select c.attempts, count(*)::int as jobs
           from (select job_id, count(*)::int as attempts from dep_runs where job_id = any($1::uuid[])
                  group by job_id) c
          group by c.attempts order by c.attempts`,
        [ids],
      );
      expect(counts).toEqual([
        { attempts: 1, jobs: 100 - retried },
        { attempts: 2, jobs: retried },
      ]);
      // more than one process took part
      const { rows: used } = await t.pool.query<{ n: number }>(
        `select count(distinct worker_id)::int as n from jobdeck.jobs where id = any($1::uuid[])`,
        [ids],
      );
      expect(used[0]!.n).toBeGreaterThan(1);
    },
  );
});

describe('the CLI', () => {
  it('enqueues with --depends-on, and refuses bad dependency flags with exit code 2', async () => {
    const parent = await runCli(['enqueue', 'dep_step', '{"n": 1}'], env);
    expect(parent.code).toBe(0);
    const parentId = parent.stdout.trim();
    const other = await jobdeck.enqueueJob('dep_step', { n: 2 });
    const child = await runCli(
      [
        'enqueue',
        'dep_step',
        '{"n": 3}',
        '--depends-on',
        `${parentId},${other.id}`,
        '--on-dependency-failure',
        'run',
        '--json',
      ],
      env,
    );
    expect(child.code).toBe(0);
    const job = JSON.parse(child.stdout) as { status: string; depends_on: string[] };
    expect(job.status).toBe('waiting');
    expect([...job.depends_on].sort()).toEqual([parentId, other.id].sort());

    const bad = await runCli(['enqueue', 'dep_step', '--depends-on', 'abc'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      '--depends-on must list job ids (UUIDs) separated by commas, got "abc"',
    );
    const policy = await runCli(
      ['enqueue', 'dep_step', '--depends-on', parentId, '--on-dependency-failure', 'later'],
      env,
    );
    expect(policy.code).toBe(2);
    expect(policy.stderr).toContain('--on-dependency-failure must be cancel or run, got "later"');
    const template = await runCli(['enqueue', '--template', 't', '--depends-on', parentId], env);
    expect(template.code).toBe(2);
    expect(template.stderr).toContain('--depends-on cannot be combined with --template');
    const alone = await runCli(['enqueue', 'dep_step', '--on-dependency-failure', 'run'], env);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('--on-dependency-failure needs --depends-on');
    const missing = await runCli(
      ['enqueue', 'dep_step', '{"n": 4}', '--depends-on', '00000000-0000-4000-8000-00000000000a'],
      env,
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      'depends_on: job 00000000-0000-4000-8000-00000000000a not found',
    );
  });

  it('signals a waiting job by id and by key; bad lines exit 2', async () => {
    const byId = await jobdeck.enqueueJob('dep_wait', {});
    const byKey = await jobdeck.enqueueJob('dep_wait', {}, { key: 'approval-7' });
    await startWorkers(1);
    const sent = await runCli(['signal', byId.id, 'approved', '{"by":"ann"}'], env);
    expect(sent.code).toBe(0);
    expect(sent.stdout).toBe(`signal approved sent to job ${byId.id}\n`);
    const viaKey = await runCli(['signal', 'approval-7', 'approved', '--json'], env);
    expect(viaKey.code).toBe(0);
    expect(JSON.parse(viaKey.stdout)).toEqual({ jobId: byKey.id, event: 'approved' });
    expect(
      (await waitForStatus(jobdeck, byId.id, 'succeeded', { timeoutMs: 30_000 })).result,
    ).toEqual({
      approved: { by: 'ann' },
    });
    expect(
      (await waitForStatus(jobdeck, byKey.id, 'succeeded', { timeoutMs: 30_000 })).result,
    ).toEqual({}); // a signal without data: waitFor returns undefined

    const usage = await runCli(['signal', byId.id], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('signal needs a job id (or key) and an event');
    const badJson = await runCli(['signal', byId.id, 'approved', '{nope'], env);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toContain('signal data is not valid JSON');
    const flag = await runCli(['signal', byId.id, 'approved', '--loud'], env);
    expect(flag.code).toBe(2);
    const unknown = await runCli(['signal', 'no-such-key', 'approved'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no-such-key/);
  });
});
