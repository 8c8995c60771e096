import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { loadTasks, type TaskRegistry } from '../../src/jobs/registry.ts';
import { ROOT } from '../helpers/cli.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

const MB = 1024 * 1024;

/** Whether a process with this pid is alive. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('a task type with limits', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;
  let tasks: TaskRegistry;

  beforeAll(async () => {
    t = await createTestDatabase();
    const all = await loadTasks(path.join(ROOT, 'test/fixtures/tasks'));
    tasks = new Map([...all].filter(([type]) => type.startsWith('limited_')));
    await registerTasks(t, tasks);
    jobdeck = createJobdeck({ connectionString: t.url });
  });
  afterEach(async () => {
    expect(await stopWorkers()).toBe(0);
  });
  afterAll(async () => {
    await jobdeck?.close();
    await t?.drop();
  });

  it('runs a job within its limits in its own process, with progress, log and result', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const job = await jobdeck.enqueueJob('limited_memory', { mode: 'ok' });
      const done = await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 30_000 });
      const result = done.result as { n: number; pid: number; jobId: string; attempt: number };
      expect(result).toMatchObject({ n: 42, jobId: job.id, attempt: 1 });
      expect(result.pid).not.toBe(process.pid);
      expect(done.progress).toBe(100);
      expect(done.current_step).toBe('querying');
      expect(done.total_steps).toBe(4);
      // The child's own figures: a Node process's resident set, and some CPU time.
      expect(Number(done.peak_rss_bytes)).toBeGreaterThan(10 * MB);
      expect(Number(done.peak_rss_bytes)).toBeLessThan(128 * MB);
      expect(Number(done.cpu_ms)).toBeGreaterThan(0);
      const events = await waitFor(async () => {
        const list = await jobdeck.getJobEvents(job.id);
        return list.some((e) => e.message === 'in a child process') && list;
      });
      const line = events.find((e) => e.message === 'in a child process')!;
      expect(line.level).toBe('info');
      expect(line.step).toBe('halfway');
      expect((line.data as { pid: number }).pid).toBe(result.pid);
    } finally {
      await worker.stop();
    }
  });

  it('fails a job over its memory limit at once, and the worker runs the next job', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      for (const mode of ['buffer', 'heap'] as const) {
        const job = await jobdeck.enqueueJob('limited_memory', { mode }, { maxAttempts: 3 });
        const failed = await waitForStatus(jobdeck, job.id, 'failed', { timeoutMs: 30_000 });
        expect(failed.attempts).toBe(1);
        const error = failed.errors.at(-1)!;
        expect(error.name).toBe('ResourceLimitError');
        expect(error.permanent).toBe(true);
        expect(error.message).toMatch(
          // Sampled over the limit, or (when a sample comes late) stopped by V8's heap ceiling.
          /^memory limit exceeded: (\d+ MB used, limit 128 MB|the JavaScript heap reached its ceiling, the limit of 128 MB) \(task type "limited_memory"\)$/,
        );
        // Outside V8's heap (`buffer`) only the sampled RSS can see it; then it is recorded.
        if (mode === 'buffer') expect(Number(failed.peak_rss_bytes)).toBeGreaterThan(128 * MB);
      }
      const next = await jobdeck.enqueueJob('limited_memory', { mode: 'ok' });
      await waitForStatus(jobdeck, next.id, 'succeeded', { timeoutMs: 30_000 });
    } finally {
      await worker.stop();
    }
  });

  it('fails a busy loop over its CPU-time limit', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const job = await jobdeck.enqueueJob('limited_cpu', { ms: 60_000 });
      const failed = await waitForStatus(jobdeck, job.id, 'failed', { timeoutMs: 30_000 });
      const error = failed.errors.at(-1)!;
      expect(error.message).toMatch(
        /^CPU time limit exceeded: \d+\.\d s used, limit 1 s \(task type "limited_cpu"\)/,
      );
      expect(Number(failed.cpu_ms)).toBeGreaterThanOrEqual(1000);
      const quick = await jobdeck.enqueueJob('limited_cpu', { ms: 10 });
      await waitForStatus(jobdeck, quick.id, 'succeeded', { timeoutMs: 30_000 });
    } finally {
      await worker.stop();
    }
  });

  it('fails the attempt, retryably, when the process exits without an outcome', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const job = await jobdeck.enqueueJob('limited_memory', { mode: 'crash' }, { maxAttempts: 1 });
      const failed = await waitForStatus(jobdeck, job.id, 'failed', { timeoutMs: 30_000 });
      const error = failed.errors.at(-1)!;
      expect(error.name).toBe('TaskProcessError');
      expect(error.message).toMatch(/process exited with code 3 before the attempt ended/);
      expect(error.permanent).toBe(false);
      const next = await jobdeck.enqueueJob('limited_memory', { mode: 'ok' });
      await waitForStatus(jobdeck, next.id, 'succeeded', { timeoutMs: 30_000 });
    } finally {
      await worker.stop();
    }
  });

  it('stops the process of a cancelled job, also when the task ignores its signal', async () => {
    const worker = await runTestWorker(t, tasks, { config: { cancelGraceMs: 300 } });
    try {
      for (const mode of ['wait', 'ignore'] as const) {
        const job = await jobdeck.enqueueJob('limited_memory', { mode });
        const step = await waitFor(async () => (await jobdeck.getJob(job.id)).current_step, {
          timeoutMs: 30_000,
          what: `the ${mode} job to start`,
        });
        const pid = Number(/^pid (\d+)$/.exec(step)![1]);
        expect(pid).not.toBe(process.pid);
        expect(alive(pid)).toBe(true);
        await jobdeck.cancelJob(job.id, 'enough');
        await waitForStatus(jobdeck, job.id, 'cancelled', { timeoutMs: 30_000 });
        await waitFor(() => !alive(pid), { what: `process ${pid} to end` });
      }
    } finally {
      await worker.stop();
    }
  });

  it('shows the measured usage and the limit failures in the stats', async () => {
    // The jobs of the tests above: two over the memory limit, one crashed, some succeeded.
    const stats = await jobdeck.jobStats({ type: 'limited_memory' });
    const row = stats.byType.find((t) => t.type === 'limited_memory')!;
    expect(row.limitFailures).toBe(2);
    expect(row.failed).toBe(3);
    expect(row.peakRssMbMax).toBeGreaterThan(128);
    expect(row.peakRssMbAvg).toBeGreaterThan(10);
    expect(row.cpuMsAvg).toBeGreaterThan(0);
    expect(row.cpuMsMax).toBeGreaterThanOrEqual(row.cpuMsAvg!);
    const cpu = (await jobdeck.jobStats({ type: 'limited_cpu' })).byType[0]!;
    expect(cpu.limitFailures).toBe(1);
    expect(cpu.cpuMsMax).toBeGreaterThanOrEqual(1000);
  });
});
