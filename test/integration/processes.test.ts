import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { loadTasks } from '../../src/jobs/registry.ts';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';
import { ROOT, runCli, startCli } from '../helpers/cli.ts';

describe('jobdeck processes', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;
  let env: Record<string, string>;

  beforeAll(async () => {
    t = await createTestDatabase();
    jobdeck = createJobdeck({ pool: t.pool });
    env = {
      DATABASE_URL: t.url,
      JOBDECK_TASKS_DIR: path.join(ROOT, 'test/fixtures/tasks'),
      JOBDECK_CRONTAB: path.join(ROOT, 'test/fixtures/no-crontab'),
      JOBDECK_CONCURRENCY: '4',
      JOBDECK_POLL_INTERVAL_MS: '200',
      JOBDECK_LOG_LEVEL: 'warn',
    };
    await registerTasks(t, await loadTasks(env.JOBDECK_TASKS_DIR!));
    await t.pool.query(
      'create table test_runs (job_id uuid not null, worker_id text not null, n int not null)',
    );
  });
  afterAll(async () => {
    await jobdeck.close();
    await t.drop();
  });

  it('two worker processes on one database run each job exactly once', async () => {
    const a = await startCli(['worker'], env);
    const b = await startCli(['worker'], env);
    try {
      const specs = Array.from({ length: 300 }, (_, n) => ({
        type: 'record_run',
        payload: { n, sleepMs: 10 },
      }));
      await jobdeck.enqueueJobs(specs);
      await waitFor(
        async () => {
          const { rows } = await t.pool.query(
            `select count(*)::int as n from jobdeck.jobs where status = 'succeeded'`,
          );
          return rows[0].n === 300;
        },
        { timeoutMs: 60_000, what: '300 jobs to succeed' },
      );
      const { rows } = await t.pool.query<{ runs: number; jobs: number; workers: number }>(
        `select count(*)::int as runs, count(distinct job_id)::int as jobs, count(distinct worker_id)::int as workers from test_runs`,
      );
      expect(rows[0]).toEqual({ runs: 300, jobs: 300, workers: 2 });
    } finally {
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
    }
    // SIGTERM is a clean shutdown, not a crash.
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
  });

  it('the CLI enqueues, lists and watches a job to its end', async () => {
    const worker = await startCli(['worker'], env);
    try {
      const enqueued = await runCli(['enqueue', 'record_run', '{"n": 7, "sleepMs": 300}'], env);
      expect(enqueued.stderr).toBe('');
      expect(enqueued.code).toBe(0);
      const id = enqueued.stdout.trim();
      expect(id).toMatch(/^[0-9a-f-]{36}$/);

      const watched = await runCli(['watch', id, '--json'], env);
      expect(watched.code).toBe(0);
      const updates = watched.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { status: string });
      expect(updates.at(-1)).toMatchObject({ id, status: 'succeeded', result: { n: 7 } });

      const listed = await runCli(['jobs', '--json', '--type', 'record_run', '--limit', '1'], env);
      expect(listed.code).toBe(0);
      expect(JSON.parse(listed.stdout)).toEqual([
        expect.objectContaining({ id, status: 'succeeded' }),
      ]);

      const table = await runCli(['jobs', '--status', 'succeeded', '--limit', '1'], env);
      expect(table.stdout).toMatch(/^ID\s+TYPE\s+STATUS/);
      expect(table.stdout).toContain(id);
    } finally {
      worker.child.kill('SIGTERM');
    }
    expect(await worker.exited).toBe(0);
  });

  it('answers bad command lines with a message and a non-zero exit, writing nothing', async () => {
    const before = await t.pool.query(`select count(*)::int as n from jobdeck.jobs`);
    const cases: [string[], Record<string, string>, number, RegExp][] = [
      [['frobnicate'], {}, 2, /unknown command "frobnicate"/],
      [['jobs', '--bogus'], {}, 2, /Unknown option '--bogus'/],
      [['jobs', '--limit', 'ten'], {}, 2, /--limit must be a whole number/],
      [['jobs', '--status', 'done'], {}, 2, /--status must be one of/],
      [['enqueue'], {}, 2, /enqueue needs a job type/],
      [['enqueue', 'record_run', '{not json'], {}, 2, /payload is not valid JSON/],
      [
        ['enqueue', 'record_run', '{"n": 1}', '--priority', 'asap'],
        {},
        2,
        /--priority must be a whole number/,
      ],
      [['enqueue', 'no_such_type'], {}, 1, /unknown job type "no_such_type"/],
      [
        ['enqueue', 'record_run', '{"n": "one"}'],
        {},
        1,
        /invalid payload for job type "record_run": payload\.n: expected integer, got string/,
      ],
      [['watch'], {}, 2, /watch needs exactly one job id/],
      [['watch', 'not-a-job'], {}, 1, /job not-a-job not found/],
      [
        ['jobs'],
        { JOBDECK_CONCURRENCY: 'lots' },
        2,
        /JOBDECK_CONCURRENCY="lots": must be a whole number/,
      ],
      [
        ['jobs'],
        { DATABASE_URL: 'mysql://nope' },
        2,
        /DATABASE_URL="mysql:\/\/nope": must start with postgres/,
      ],
    ];
    for (const [args, extraEnv, code, message] of cases) {
      const result = await runCli(args, { ...env, ...extraEnv });
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(code);
      expect(result.stderr).toMatch(message);
    }
    const after = await t.pool.query(`select count(*)::int as n from jobdeck.jobs`);
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });
});
