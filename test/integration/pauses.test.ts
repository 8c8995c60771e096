import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { InvalidArgumentError } from '../../src/errors.ts';
import { loadTasks } from '../../src/jobs/registry.ts';
import type { PauseTarget } from '../../src/jobs/pauses.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';
import { ROOT, runCli, startCli } from '../helpers/cli.ts';

type Child = Awaited<ReturnType<typeof startCli>>;

/**
 * Pause and resume (issue 20, item 1) with two `jobdeck worker` processes on one database. No
 * timing is asserted: the order of events is (a job enqueued after the pause committed never runs
 * before the resume, while jobs enqueued after it in other queues finish).
 */
describe('pausing and resuming across worker processes', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;
  let dataDir: string;
  let env: Record<string, string>;
  const children: Child[] = [];
  let n = 0;

  async function startWorkers(count: number): Promise<void> {
    children.push(
      ...(await Promise.all(Array.from({ length: count }, () => startCli(['worker'], env)))),
    );
  }
  async function stopWorkers(): Promise<void> {
    const running = children.splice(0);
    for (const c of running) c.child.kill('SIGTERM');
    await Promise.all(running.map((c) => c.exited));
  }

  /** Enqueues `count` record_run jobs (each recording its run in test_runs). */
  async function enqueueRuns(count: number, options: { queue?: string } = {}): Promise<string[]> {
    const jobs = await jobdeck.enqueueJobs(
      Array.from({ length: count }, () => ({
        type: 'record_run',
        payload: { n: ++n, sleepMs: 5 },
        ...options,
      })),
    );
    return jobs.map((j) => j.id);
  }
  async function rowsOf(ids: string[]) {
    const { rows } = await t.pool.query<{
      id: string;
      status: string;
      held_at: Date | null;
      held_reason: string | null;
    }>(`select id, status, held_at, held_reason from jobdeck.jobs where id = any($1)`, [ids]);
    return rows;
  }
  async function runsOf(ids: string[]): Promise<number> {
    const { rows } = await t.pool.query<{ n: number }>(
      'select count(*)::int as n from test_runs where job_id = any($1)',
      [ids],
    );
    return rows[0]!.n;
  }
  const allWith = (ids: string[], test: (row: Awaited<ReturnType<typeof rowsOf>>[0]) => boolean) =>
    waitFor(async () => (await rowsOf(ids)).filter(test).length === ids.length, {
      timeoutMs: 30_000,
      what: `${ids.length} jobs`,
    });
  const succeeded = (ids: string[]) => allWith(ids, (r) => r.status === 'succeeded');
  const heldWith = (ids: string[], reason: string) =>
    allWith(ids, (r) => r.status === 'queued' && r.held_at !== null && r.held_reason === reason);

  beforeAll(async () => {
    t = await createTestDatabase();
    jobdeck = createJobdeck({ pool: t.pool });
    dataDir = mkdtempSync(path.join(tmpdir(), 'jobdeck-pauses-'));
    env = {
      DATABASE_URL: t.url,
      JOBDECK_DATA_DIR: dataDir,
      JOBDECK_TASKS_DIR: path.join(ROOT, 'test/fixtures/tasks'),
      JOBDECK_CRONTAB: path.join(ROOT, 'test/fixtures/no-crontab'),
      JOBDECK_POLL_INTERVAL_MS: '200',
      JOBDECK_CONCURRENCY: '4',
      JOBDECK_LOG_LEVEL: 'warn',
    };
    await registerTasks(t, await loadTasks(path.join(ROOT, 'test/fixtures/tasks')));
    await t.pool.query('create table test_runs (job_id uuid, worker_id text, n int)');
    await t.pool.query(
      `create table test_spans (id serial primary key, job_id uuid, org_id text,
                                started_at timestamptz not null, ended_at timestamptz)`,
    );
    await startWorkers(2);
  });
  afterAll(async () => {
    await stopWorkers();
    await jobdeck.close();
    await t.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps a paused queue’s jobs queued with the reason, runs other queues, survives a restart and resumes', async () => {
    const pause = await jobdeck.pause({ queue: 'slow' }, { reason: 'maintenance', by: 'test' });
    expect(pause).toMatchObject({ scope: 'queue', key: 'slow', reason: 'maintenance', held: 0 });
    const reason = 'paused: queue "slow" (maintenance)';

    const paused = await enqueueRuns(4, { queue: 'slow' });
    const others = await enqueueRuns(4, { queue: 'fast' });
    await succeeded(others);
    // Every worker that fetched a paused job held it; none ran.
    await heldWith(paused, reason);
    expect(await runsOf(paused)).toBe(0);
    const events = await t.pool.query<{ message: string }>(
      `select distinct message from jobdeck.job_events where job_id = any($1) and kind = 'control'`,
      [paused],
    );
    expect(events.rows.map((r) => r.message)).toEqual([reason]);

    const stats = await jobdeck.jobStats();
    expect(stats.queue.paused).toBe(4);
    expect(stats.byType.find((s) => s.type === 'record_run')?.paused).toBe(4);
    expect(await jobdeck.pauses()).toMatchObject([
      { scope: 'queue', key: 'slow', reason: 'maintenance', pausedBy: 'test', held: 4 },
    ]);

    // A pause is a row: new worker processes keep it.
    await stopWorkers();
    await startWorkers(2);
    const later = await enqueueRuns(2, { queue: 'slow' });
    const more = await enqueueRuns(2, { queue: 'fast' });
    await succeeded(more);
    await heldWith(later, reason);
    expect(await runsOf([...paused, ...later])).toBe(0);

    // Resuming releases them in the same transaction; they run once each.
    const { rows } = await t.pool.query<{ r: { resumed: boolean; released: number } }>(
      `select jobdeck.resume_queue('slow') as r`,
    );
    expect(rows[0]!.r).toMatchObject({ resumed: true, released: 6 });
    await succeeded([...paused, ...later]);
    expect(await runsOf([...paused, ...later])).toBe(6);
    expect(await jobdeck.pauses()).toEqual([]);
    expect(await jobdeck.resume({ queue: 'slow' })).toMatchObject({ resumed: false, released: 0 });
  });

  it('holds waiting jobs at the pause itself, and cancels running ones with cancelRunning', async () => {
    const long = await jobdeck.enqueueJobs([
      { type: 'org_span', payload: { sleepMs: 60_000 } },
      { type: 'org_span', payload: { sleepMs: 60_000 } },
    ]);
    for (const job of long) await waitForStatus(jobdeck, job.id, 'running');
    // Scheduled later: waiting in Graphile Worker's queue, not fetched by any worker yet.
    const waiting = await jobdeck.enqueueJob(
      'org_span',
      { sleepMs: 10 },
      { runAt: new Date(Date.now() + 3_600_000).toISOString() },
    );

    const pause = await jobdeck.pause({ type: 'org_span' }, { cancelRunning: true });
    expect(pause).toMatchObject({ scope: 'type', key: 'org_span', held: 1, cancelled: 2 });
    // Held by the pause itself, at once.
    expect(await rowsOf([waiting.id])).toMatchObject([
      { status: 'queued', held_reason: 'paused: task type "org_span"' },
    ]);
    for (const job of long) {
      const done = await waitForStatus(jobdeck, job.id, 'cancelled');
      expect(done.cancel_reason).toBe('cancelled by the pause of task type "org_span"');
    }
    // Another type still runs meanwhile.
    await succeeded(await enqueueRuns(2));

    const resumed = await jobdeck.resume({ type: 'org_span' });
    expect(resumed).toMatchObject({ resumed: true, released: 1 });
    const row = (await rowsOf([waiting.id]))[0]!;
    expect(row).toMatchObject({ status: 'queued', held_at: null, held_reason: null });
    await jobdeck.cancelJob(waiting.id);
  });

  it('pauses and resumes everything from the CLI', async () => {
    const paused = await runCli(['pause', '--all', '--reason', 'deploy'], env);
    expect(paused.stderr).toBe('');
    expect(paused.code).toBe(0);
    expect(paused.stdout).toMatch(/^paused everything: \d+ waiting job\(s\) held/);

    const ids = await enqueueRuns(3);
    const inQueue = await enqueueRuns(1, { queue: 'fast' });
    await heldWith([...ids, ...inQueue], 'paused: everything (deploy)');
    expect(await runsOf([...ids, ...inQueue])).toBe(0);

    const listed = await runCli(['pauses'], env);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^everything: paused .* by cli:.*, 4 job\(s\) held \(deploy\)$/m);

    const stats = await runCli(['stats'], env);
    expect(stats.stdout).toMatch(/queue: .* 4 held \(4 paused\)/);

    // A queue paused beside everything keeps its jobs after everything resumes.
    await jobdeck.pause({ queue: 'fast' });
    const resumed = await runCli(['resume', '--all'], env);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toBe('resumed everything: 3 job(s) queued again\n');
    await succeeded(ids);
    expect(await rowsOf(inQueue)).toMatchObject([
      { status: 'queued', held_reason: 'paused: queue "fast"' },
    ]);
    const last = await runCli(['resume', 'fast', '--json'], env);
    expect(JSON.parse(last.stdout)).toMatchObject({ scope: 'queue', key: 'fast', released: 1 });
    await succeeded(inQueue);
    expect((await runCli(['pauses'], env)).stdout).toBe('nothing is paused\n');
  });

  it('refuses bad input naming the field, and changes nothing', async () => {
    const bad: [PauseTarget, RegExp][] = [
      [{ queue: '' }, /queue must be a name of 1 to 128 characters/],
      [{ queue: 'q'.repeat(129) }, /queue must be a name of 1 to 128 characters/],
      [{ type: 42 } as never, /task type must be a name/],
      [{ org: 'acme' } as never, /exactly one of queue or type/],
      ['everything' as never, /pause target must be/],
    ];
    for (const [target, message] of bad) {
      await expect(jobdeck.pause(target)).rejects.toThrow(message);
      await expect(jobdeck.pause(target)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(jobdeck.pause({ queue: 'q' }, { reason: 'x'.repeat(1001) })).rejects.toThrow(
      /reason must be 1 to 1000 characters/,
    );
    // The SQL API checks too (JD004), for callers that skip TypeScript.
    await expect(t.pool.query(`select jobdeck.pause_queue('')`)).rejects.toMatchObject({
      code: 'JD004',
      message: expect.stringMatching(/^queue must be a name of 1 to 128 characters/),
    });
    await expect(
      t.pool.query(`select jobdeck.pause_task_type('t', repeat('x', 1001))`),
    ).rejects.toMatchObject({ code: 'JD004', message: expect.stringMatching(/^reason must be/) });
    await expect(
      t.pool.query(`select jobdeck_private.pause('org', 'acme', null, false, null)`),
    ).rejects.toMatchObject({ code: 'JD004', message: expect.stringMatching(/^scope must be/) });

    const cli = await runCli(['pause'], env);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/pause needs exactly one of: a queue name, --type/);
    expect((await runCli(['pause', 'q', '--all'], env)).code).toBe(2);
    expect((await runCli(['resume', '--type', 'x'.repeat(129)], env)).stderr).toMatch(
      /--type must be a name of 1 to 128 characters/,
    );

    const { rows } = await t.pool.query('select * from jobdeck_private.pauses');
    expect(rows).toEqual([]);
  });
});
