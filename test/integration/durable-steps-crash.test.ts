import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { loadTasks } from '../../src/jobs/registry.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';
import { ROOT, startCli } from '../helpers/cli.ts';

type Child = Awaited<ReturnType<typeof startCli>>;

/** The pid inside a worker id (`<host>-<pid>-<random>`). */
function pidOf(workerId: string | null): number {
  const parts = (workerId ?? '').split('-');
  return Number(parts[parts.length - 2]);
}

describe('durable steps across a real crash', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;
  let dataDir: string;
  const children: Child[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    jobdeck = createJobdeck({ pool: t.pool });
    dataDir = mkdtempSync(path.join(tmpdir(), 'jobdeck-steps-'));
    await registerTasks(t, await loadTasks(path.join(ROOT, 'test/fixtures/tasks')));
    await t.pool.query(
      'create table step_runs (job_id uuid, step int, attempt int, hang boolean default false)',
    );
  });
  afterAll(async () => {
    const running = children.splice(0);
    for (const c of running) c.child.kill('SIGTERM');
    await Promise.all(running.map((c) => c.exited));
    await jobdeck.close();
    await t.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('resumes at step 3 of 5 after kill -9 of the worker process mid-step: steps 1-2 ran once', async () => {
    const env = {
      DATABASE_URL: t.url,
      JOBDECK_DATA_DIR: dataDir,
      JOBDECK_CRONTAB: path.join(ROOT, 'test/fixtures/no-crontab'),
      JOBDECK_TASKS_DIR: path.join(ROOT, 'test/fixtures/tasks'),
      JOBDECK_POLL_INTERVAL_MS: '200',
      JOBDECK_LOG_LEVEL: 'warn',
      JOBDECK_HEARTBEAT_INTERVAL_MS: '200',
      JOBDECK_RESCUE_AFTER_MS: '2000',
    };
    const workers = await Promise.all([startCli(['worker'], env), startCli(['worker'], env)]);
    children.push(...workers);

    const job = await jobdeck.enqueueJob('durable_steps', { hangAt: 3 });
    // Step 3's function is running (it recorded itself) when the worker is killed
    await waitFor(
      async () =>
        (
          await t.pool.query('select 1 from step_runs where job_id = $1 and step = 3 and hang', [
            job.id,
          ])
        ).rowCount === 1,
      { timeoutMs: 30_000, what: 'step 3 to start' },
    );
    // Its running mark and progress are written a moment after the start
    const running = await waitFor(async () => {
      const state = await jobdeck.getJob(job.id);
      return state.status === 'running' && state.current_step === 'step-3' && state;
    });
    expect(running.completed_steps).toBe(2);
    const victim = workers.find((w) => w.child.pid === pidOf(running.worker_id))!;
    expect(victim).toBeDefined();
    victim.child.kill('SIGKILL');
    await victim.exited;

    const done = await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 60_000 });
    expect(done.result).toEqual({ results: [10, 20, 30, 40, 50] });
    expect(done.attempts).toBe(2);
    expect(done.errors[0]).toMatchObject({ attempt: 1, name: 'WorkerLostError' });
    expect(done.worker_id).not.toBe(running.worker_id);
    const { rows } = await t.pool.query<{ step: number; attempt: number }>(
      'select step, attempt from step_runs where job_id = $1 and not hang order by step, attempt',
      [job.id],
    );
    // Steps 1 and 2 ran once (their results came from the store after the crash); step 3 was
    // interrupted mid-way, so it ran again; 4 and 5 once, on the second attempt.
    expect(rows.map((r) => [r.step, r.attempt])).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
      [3, 2],
      [4, 2],
      [5, 2],
    ]);
    const steps = await jobdeck.getJobSteps(job.id);
    expect(steps.map((s) => [s.name, s.attempt])).toEqual([
      ['step-1', 1],
      ['step-2', 1],
      ['step-3', 2],
      ['step-4', 2],
      ['step-5', 2],
    ]);
  });
});
