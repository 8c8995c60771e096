import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { loadTasks } from '../../src/jobs/registry.ts';
import type { Job } from '../../src/db/types.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';
import { ROOT, runCli, startCli } from '../helpers/cli.ts';

type Child = Awaited<ReturnType<typeof startCli>>;

/** The pid inside a worker id (`<host>-<pid>-<random>`). */
function pidOf(workerId: string | null): number {
  const parts = (workerId ?? '').split('-');
  return Number(parts[parts.length - 2]);
}

describe('job control across worker processes', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;
  let dataDir: string;
  let base: Record<string, string>;
  const children: Child[] = [];

  async function startWorkers(n: number, env: Record<string, string>): Promise<Child[]> {
    const started = await Promise.all(
      Array.from({ length: n }, () => startCli(['worker'], { ...base, ...env })),
    );
    children.push(...started);
    return started;
  }

  async function stopAll(): Promise<void> {
    const running = children.splice(0);
    for (const c of running) c.child.kill('SIGTERM');
    await Promise.all(running.map((c) => c.exited));
  }

  beforeAll(async () => {
    t = await createTestDatabase();
    jobdeck = createJobdeck({ pool: t.pool });
    dataDir = mkdtempSync(path.join(tmpdir(), 'jobdeck-control-'));
    base = {
      DATABASE_URL: t.url,
      JOBDECK_DATA_DIR: dataDir,
      JOBDECK_CRONTAB: path.join(ROOT, 'test/fixtures/no-crontab'),
      JOBDECK_POLL_INTERVAL_MS: '200',
      JOBDECK_LOG_LEVEL: 'warn',
    };
    await registerTasks(t, await loadTasks(path.join(ROOT, 'tasks')));
    await registerTasks(t, await loadTasks(path.join(ROOT, 'test/fixtures/tasks')));
    await t.pool.query('create table test_runs (job_id uuid, worker_id text, n int)');
    await t.pool.query(
      `create table test_spans (id serial primary key, job_id uuid, org_id text,
                                started_at timestamptz not null, ended_at timestamptz)`,
    );
  });
  afterAll(async () => {
    await stopAll();
    await jobdeck.close();
    await t.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('cancels a running export_report on whichever worker process runs it', async () => {
    const workers = await startWorkers(2, {
      JOBDECK_TASKS_DIR: path.join(ROOT, 'tasks'),
      JOBDECK_CONCURRENCY: '2',
    });
    try {
      const job = await jobdeck.enqueueJob('export_report', {
        reportType: 'quotes',
        format: 'csv',
        stepDelayMs: 5000,
      });
      const running = await waitForStatus(jobdeck, job.id, 'running');
      const pids = workers.map((w) => w.child.pid);
      expect(pids).toContain(pidOf(running.worker_id));
      expect(pidOf(running.worker_id)).not.toBe(process.pid);

      const asked = performance.now();
      await jobdeck.cancelJob(job.id, 'stop the export');
      let done: Job | undefined;
      for await (const state of jobdeck.watchJob(job.id)) done = state;
      const ms = performance.now() - asked;
      console.info(`cancel of a running export_report on another process: ${ms.toFixed(0)} ms`);
      expect(done).toMatchObject({ status: 'cancelled', cancel_reason: 'stop the export' });
      expect(done!.errors).toEqual([]);
      expect(done!.progress).toBeLessThan(100);
    } finally {
      await stopAll();
    }
  });

  it('rescues the job of a worker killed with kill -9 and runs it again elsewhere', async () => {
    // Default heartbeat (1 s) and rescue threshold (15 s): this is the promise the README makes.
    const workers = await startWorkers(2, {
      JOBDECK_TASKS_DIR: path.join(ROOT, 'test/fixtures/tasks'),
      JOBDECK_CONCURRENCY: '2',
    });
    try {
      const job = await jobdeck.enqueueJob('record_run', { n: 1, sleepMs: 4000 });
      const running = await waitForStatus(jobdeck, job.id, 'running');
      const victim = workers.find((w) => w.child.pid === pidOf(running.worker_id))!;
      expect(victim).toBeDefined();
      victim.child.kill('SIGKILL');
      const killedAt = performance.now();
      await victim.exited;

      const rerun = await waitFor(
        async () => {
          const state = await jobdeck.getJob(job.id);
          return state.status === 'running' && state.attempts === 2 && state;
        },
        { timeoutMs: 45_000, intervalMs: 50, what: 'the job to run again on the other worker' },
      );
      const rescueMs = performance.now() - killedAt;
      console.info(`kill -9 → job running again on the other worker: ${rescueMs.toFixed(0)} ms`);
      expect(rerun.worker_id).not.toBe(running.worker_id);
      const done = await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 20_000 });
      expect(done.attempts).toBe(2);
      expect(done.errors).toHaveLength(1);
      expect(done.errors[0]).toMatchObject({
        attempt: 1,
        name: 'WorkerLostError',
        interrupted: true,
      });
      expect(done.errors[0]!.message).toContain(`worker ${running.worker_id} stopped heartbeating`);
      const { rows } = await t.pool.query(
        'select count(*)::int as n from jobdeck_private.workers where id = $1',
        [running.worker_id],
      );
      expect(rows[0].n).toBe(0);
    } finally {
      await stopAll();
    }
  });

  it('holds a per-organisation cap across three worker processes', async () => {
    await startWorkers(3, {
      JOBDECK_TASKS_DIR: path.join(ROOT, 'test/fixtures/tasks'),
      JOBDECK_CONCURRENCY: '4',
      JOBDECK_ORG_CONCURRENCY: '2',
    });
    try {
      const jobs = await jobdeck.enqueueJobs([
        ...Array.from({ length: 10 }, () => ({
          type: 'org_span',
          orgId: 'acme',
          payload: { sleepMs: 300 },
        })),
        ...Array.from({ length: 10 }, () => ({
          type: 'org_span',
          orgId: 'globex',
          payload: { sleepMs: 300 },
        })),
        ...Array.from({ length: 4 }, () => ({ type: 'org_span', payload: { sleepMs: 300 } })),
      ]);
      await waitFor(
        async () => {
          const { rows } = await t.pool.query(
            `select count(*)::int as n from jobdeck.jobs where id = any($1) and status = 'succeeded'`,
            [jobs.map((j) => j.id)],
          );
          return rows[0].n === jobs.length;
        },
        { timeoutMs: 60_000, what: 'all capped jobs to succeed' },
      );
      const { rows } = await t.pool.query<{ org: string; peak: number }>(
        `select coalesce(s.org_id, '-') as org,
                max((select count(*)::int from test_spans x
                      where x.org_id is not distinct from s.org_id
                        and x.started_at <= s.started_at and x.ended_at > s.started_at)) as peak
           from test_spans s group by s.org_id order by 1`,
      );
      const peaks = Object.fromEntries(rows.map((r) => [r.org, r.peak]));
      console.info(`peak running per org under 3 workers (cap 2): ${JSON.stringify(peaks)}`);
      expect(peaks.acme).toBe(2);
      expect(peaks.globex).toBe(2);
      // Both organisations ran side by side: the cap holds one org back, not the others.
      const overall = await t.pool.query<{ peak: number }>(
        `select max((select count(*)::int from test_spans x
                      where x.started_at <= s.started_at and x.ended_at > s.started_at)) as peak
           from test_spans s`,
      );
      expect(overall.rows[0]!.peak).toBeGreaterThan(2);
      const workers = await t.pool.query(
        'select count(distinct worker_id)::int as n from jobdeck.jobs where id = any($1)',
        [jobs.map((j) => j.id)],
      );
      // Several processes shared the work, so the cap held across them. (All three usually do; on
      // a busy machine one may start late and find nothing left, which the design allows.)
      expect(workers.rows[0].n).toBeGreaterThanOrEqual(2);
    } finally {
      await stopAll();
      await t.pool.query(`delete from jobdeck_private.settings where name = 'org_concurrency'`);
    }
  });

  it('cancels, retries and summarises from the CLI', async () => {
    const env = { ...base, JOBDECK_TASKS_DIR: path.join(ROOT, 'test/fixtures/tasks') };
    const job = await jobdeck.enqueueJob(
      'record_run',
      { n: 9 },
      { runAt: new Date(Date.now() + 3_600_000) },
    );
    const cancel = await runCli(['cancel', job.id, '--reason', 'from the CLI'], env);
    expect(cancel).toMatchObject({ code: 0, stdout: `job ${job.id} is cancelled\n` });
    const retry = await runCli(['retry', job.id, '--json'], env);
    expect(retry.code).toBe(0);
    expect(JSON.parse(retry.stdout)).toMatchObject({ id: job.id, status: 'queued', attempts: 0 });
    await jobdeck.cancelJob(job.id);

    const stats = await runCli(['stats', '--since', '1h', '--json'], env);
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.stdout).byStatus.cancelled).toBeGreaterThan(0);
    const table = await runCli(['stats', '--type', 'record_run'], env);
    expect(table.stdout).toContain('record_run');

    const missing = await runCli(['cancel', '00000000-0000-4000-8000-000000000000'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('not found');
    const noId = await runCli(['retry'], env);
    expect(noId.code).toBe(2);
    expect(noId.stderr).toContain('retry needs a job id');
    const badSince = await runCli(['stats', '--since', 'soon'], env);
    expect(badSince.code).toBe(2);
    expect(badSince.stderr).toContain('--since must be like');
    const badPriority = await runCli(
      ['enqueue', 'record_run', '{"n":1}', '--priority', 'asap'],
      env,
    );
    expect(badPriority.code).toBe(2);
    expect(badPriority.stderr).toContain('--priority must be');
  });
});
