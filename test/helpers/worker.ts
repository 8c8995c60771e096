import { loadConfig, type Config } from '../../src/config.ts';
import { syncTaskTypes, type TaskRegistry } from '../../src/jobs/registry.ts';
import { startWorker, type JobdeckWorker } from '../../src/worker/runner.ts';
import { createLogger } from '../../src/logger.ts';
import type { TestDatabase } from './db.ts';

/** Test defaults: quick polling, quiet logs. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({}), pollIntervalMs: 200, logLevel: 'error', ...overrides };
}

/** Registers task types so enqueue accepts them, without running a worker. */
export async function registerTasks(
  t: TestDatabase,
  tasks: TaskRegistry,
  config = testConfig(),
): Promise<void> {
  await syncTaskTypes(t.db, tasks, {
    maxAttempts: config.defaultMaxAttempts,
    maxPayloadBytes: config.maxPayloadBytes,
  });
}

const running = new Set<JobdeckWorker>();

/** Starts a worker on the test database; `stopWorkers()` (afterEach) stops any left running. */
export async function runTestWorker(
  t: TestDatabase,
  tasks: TaskRegistry,
  options: { config?: Partial<Config>; crontab?: string } = {},
): Promise<JobdeckWorker> {
  const worker = await startWorker({
    connectionString: t.url,
    tasks,
    config: testConfig(options.config),
    ...(options.crontab !== undefined ? { crontab: options.crontab } : {}),
    logger: createLogger('error', 'test-worker'),
  });
  running.add(worker);
  return {
    id: worker.id,
    promise: worker.promise,
    stop: async () => {
      running.delete(worker);
      await worker.stop();
    },
  };
}

/** Stops workers a test left running, and fails the test that did so. */
export async function stopWorkers(): Promise<number> {
  const left = [...running];
  running.clear();
  await Promise.all(left.map((worker) => worker.stop()));
  return left.length;
}
