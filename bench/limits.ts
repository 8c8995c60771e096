/**
 * `node --conditions=jobdeck-source bench/limits.ts`: what resource limits cost and how exact they
 * are, without a database (the attempt's context writes nowhere). Prints, for a task type with
 * limits (src/worker/isolated-attempt.ts):
 *
 * - start-up: fork → outcome of a task that returns at once (median and p90 of 20), and that
 *   process's peak RSS and CPU time (what every limited attempt pays before its own work);
 * - memory: the RSS reported when a task allocating 8 MB buffers every 5 ms, or JavaScript objects
 *   as fast as it can, is stopped at a 96 MB limit (how far past the limit a sample catches it);
 * - CPU: the CPU time reported when a busy loop is stopped at a 1 s limit.
 *
 * docs/resource-limits.md quotes its figures.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobHelpers } from 'graphile-worker';
import type { Job } from '../src/db/types.ts';
import type { ResourceLimits } from '../src/jobs/registry.ts';
import type { TaskContext } from '../src/jobs/task.ts';
import { runIsolatedAttempt, type AttemptUsage } from '../src/worker/isolated-attempt.ts';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '../test/fixtures/tasks');
const MB = 1024 * 1024;

async function attempt(
  file: string,
  limits: ResourceLimits,
  payload: unknown,
): Promise<{ ms: number; usage: AttemptUsage; outcome: string }> {
  const controller = new AbortController();
  const ctx: TaskContext<unknown> = {
    payload,
    job: { id: '00000000-0000-0000-0000-000000000000' } as Job,
    attempt: 1,
    signal: controller.signal,
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
  const helpers = {
    job: {},
    logger: console,
    query: () => Promise.resolve({ rows: [{ n: 42 }], rowCount: 1 }),
    getQueueName: () => Promise.resolve(null),
  } as unknown as JobHelpers;
  const usage: AttemptUsage = { peakRssBytes: 0, cpuMs: 0 };
  const started = performance.now();
  const run = runIsolatedAttempt({
    type: 'bench',
    file: path.join(FIXTURES, file),
    limits,
    payload,
    ctx,
    helpers,
    usage,
  });
  let outcome: string;
  try {
    await run.result;
    outcome = 'succeeded';
  } catch (error) {
    outcome = (error as Error).message;
  } finally {
    run.kill();
  }
  return { ms: performance.now() - started, usage, outcome };
}

const quantile = (values: number[], q: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * q))]!;

const memory: ResourceLimits = { memoryBytes: 96 * MB, cpuMs: null };
const starts = [];
for (let i = 0; i < 20; i++)
  starts.push(await attempt('limited_memory.ts', memory, { mode: 'ok' }));
console.log(
  `start-up (fork → outcome of a task that returns at once): median ${quantile(
    starts.map((s) => s.ms),
    0.5,
  ).toFixed(0)} ms, p90 ${quantile(
    starts.map((s) => s.ms),
    0.9,
  ).toFixed(0)} ms; its peak RSS ${(
    quantile(
      starts.map((s) => s.usage.peakRssBytes),
      0.5,
    ) / MB
  ).toFixed(0)} MB, CPU ${quantile(
    starts.map((s) => s.usage.cpuMs),
    0.5,
  )} ms`,
);
for (const mode of ['buffer', 'heap']) {
  for (let i = 0; i < 3; i++) {
    const r = await attempt('limited_memory.ts', memory, { mode });
    console.log(`memory, ${mode}: stopped after ${r.ms.toFixed(0)} ms: ${r.outcome}`);
  }
}
for (let i = 0; i < 3; i++) {
  const r = await attempt('limited_cpu.ts', { memoryBytes: null, cpuMs: 1000 }, { ms: 60_000 });
  console.log(`cpu, busy loop: stopped after ${r.ms.toFixed(0)} ms: ${r.outcome}`);
}
