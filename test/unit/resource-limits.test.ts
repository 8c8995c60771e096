import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobHelpers } from 'graphile-worker';
import type { Job } from '../../src/db/types.ts';
import { ResourceLimitError } from '../../src/errors.ts';
import { taskSettings, type ResourceLimits } from '../../src/jobs/registry.ts';
import type { TaskContext, TaskLimits } from '../../src/jobs/task.ts';
import {
  childExecArgv,
  runIsolatedAttempt,
  type IsolatedAttemptOptions,
} from '../../src/worker/isolated-attempt.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MEMORY_TASK = path.join(ROOT, 'test/fixtures/tasks/limited_memory.ts');
const MB = 1024 * 1024;
const DEFAULTS = { maxAttempts: 3, maxPayloadBytes: 1000, cancelGraceMs: 1000 };

const limitsOf = (limits: unknown) =>
  taskSettings({ limits: limits as TaskLimits, run: () => {} }, DEFAULTS).limits;

/** An attempt of the fixture with a context that writes nowhere. */
function attempt(payload: unknown, limits: ResourceLimits, extra: Partial<IsolatedAttemptOptions>) {
  const ctx: TaskContext<unknown> = {
    payload,
    job: { id: '00000000-0000-4000-8000-000000000000' } as Job,
    attempt: 1,
    signal: new AbortController().signal,
    helpers: {} as JobHelpers,
    progress: () => Promise.resolve(),
    step: () => Promise.resolve(),
    log: () => Promise.resolve(),
    rateLimited: () => {
      throw new Error('not used here');
    },
    sleep: () => Promise.resolve(),
    waitFor: () => Promise.reject(new Error('no durable steps here')),
    parents: () => Promise.resolve([]),
  };
  const usage = { peakRssBytes: 0, cpuMs: 0 };
  const run = runIsolatedAttempt({
    type: 'limited_memory',
    file: MEMORY_TASK,
    limits,
    payload,
    ctx,
    helpers: { job: {} } as JobHelpers,
    usage,
    ...extra,
  });
  return { result: run.result.finally(() => run.kill()), usage };
}

describe('limits in defineTask', () => {
  it('are checked into bytes and milliseconds', () => {
    expect(limitsOf(undefined)).toBeNull();
    expect(limitsOf({ memoryMb: 256, cpuSeconds: 1.5 })).toEqual({
      memoryBytes: 256 * MB,
      cpuMs: 1500,
    });
    expect(limitsOf({ cpuSeconds: 30 })).toEqual({ memoryBytes: null, cpuMs: 30_000 });
  });

  it('refuse bad values, naming them', () => {
    expect(() => limitsOf({ memoryMb: 10 })).toThrow(
      'limits.memoryMb must be a whole number from 64 to 1048576, got 10',
    );
    expect(() => limitsOf({ memoryMb: '256' })).toThrow(/limits\.memoryMb .* got 256/);
    expect(() => limitsOf({ cpuSeconds: 0 })).toThrow(
      /limits\.cpuSeconds must be a number of seconds from 0\.1 .* got 0/,
    );
    expect(() => limitsOf({ memory: 100 })).toThrow(
      'limits takes memoryMb and cpuSeconds, got "memory"',
    );
    expect(() => limitsOf({})).toThrow('limits must set memoryMb, cpuSeconds or both');
    expect(() => limitsOf(256)).toThrow(/limits must be an object/);
  });
});

describe('runIsolatedAttempt()', () => {
  it('starts the process with the heap ceiling and the module conditions', () => {
    const args = childExecArgv({ memoryBytes: 200 * MB, cpuMs: null });
    expect(args).toContain('--max-old-space-size=200');
    // Inherited from this process's flags, or added when running from the sources.
    expect(args.join(' ')).toMatch(/--conditions[= ]jobdeck-source/);
    expect(childExecArgv({ memoryBytes: null, cpuMs: 5000 }).join(' ')).not.toMatch(
      /max-old-space-size/,
    );
  });

  it('reports V8 running out of heap as the memory limit', async () => {
    // No samples (one an hour): only the heap ceiling can stop the task.
    const { result } = attempt(
      { mode: 'heap' },
      { memoryBytes: 64 * MB, cpuMs: null },
      { sampleMs: 3_600_000 },
    );
    const error = await result.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ResourceLimitError);
    expect((error as Error).message).toBe(
      'memory limit exceeded: the JavaScript heap reached its ceiling, the limit of 64 MB (task type "limited_memory")',
    );
  });

  it("gives back the task's error with its name, fields and permanence", async () => {
    const { result } = attempt({ mode: 'permanent' }, { memoryBytes: null, cpuMs: 10_000 }, {});
    await expect(result).rejects.toMatchObject({
      name: 'PermanentJobError',
      message: 'no such file',
      code: 'ENOENT',
      permanent: true,
    });
  });

  it("measures the task's own process, not the worker's peak it was forked from", async () => {
    // On Linux a forked process's maxRSS keeps its parent's peak; VmHWM starts afresh at exec.
    const ballast = Buffer.alloc(300 * MB, 1);
    const { result, usage } = attempt(
      { mode: 'permanent' },
      { memoryBytes: null, cpuMs: 10_000 },
      {},
    );
    await expect(result).rejects.toThrow('no such file');
    expect(ballast.length).toBe(300 * MB);
    expect(usage.peakRssBytes).toBeGreaterThan(10 * MB);
    expect(usage.peakRssBytes).toBeLessThan(200 * MB);
  });

  it('says which helpers a task in its own process cannot use', async () => {
    const { result } = attempt({ mode: 'helpers' }, { memoryBytes: null, cpuMs: 10_000 }, {});
    await expect(result).rejects.toThrow(
      'helpers.withPgClient is not available to a task with limits: it runs in its own process (use helpers.query)',
    );
  });
});
