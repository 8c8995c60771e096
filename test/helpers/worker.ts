import { loadConfig, type Config } from '../../src/config.ts';
import { registerTaskTypes, type TaskRegistry } from '../../src/jobs/registry.ts';
import { startWorker, type JobdeckWorker } from '../../src/worker/runner.ts';
import { createLogger, type Logger } from '../../src/logger.ts';
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
  await registerTaskTypes(t.pool, tasks, config);
}

const running = new Set<JobdeckWorker>();

/** Starts a worker on the test database; `stopWorkers()` (afterEach) stops any left running. */
export async function runTestWorker(
  t: TestDatabase,
  tasks: TaskRegistry,
  options: { config?: Partial<Config>; crontab?: string; logger?: Logger } = {},
): Promise<JobdeckWorker> {
  const worker = await startWorker({
    connectionString: t.url,
    tasks,
    config: testConfig(options.config),
    ...(options.crontab !== undefined ? { crontab: options.crontab } : {}),
    logger: options.logger ?? createLogger('error', 'test-worker'),
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

/** A logger that keeps its warnings and errors for assertions and prints nothing. */
export function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    debug: () => {},
    info: () => {},
    warn: (message) => warnings.push(message),
    error: (message) => warnings.push(message),
  };
}

/** Marks a queued job running attempt 1 on `workerId`, as that worker's start would. */
export async function markRunning(
  t: TestDatabase,
  job: { id: string; gw_job_id: string | null },
  workerId: string,
): Promise<void> {
  const { rows } = await t.pool.query<{ marked: boolean }>(
    'select marked from jobdeck_private.mark_running($1::jsonb, $2)',
    [
      JSON.stringify([
        { id: job.id, gw_job_id: job.gw_job_id, attempt: 1, started_at: new Date() },
      ]),
      workerId,
    ],
  );
  if (!rows[0]?.marked) throw new Error(`job ${job.id} could not be marked running`);
}

/** The tracked deliveries (`deliver_webhook`, `deliver_email`) of a job, oldest first. */
export async function deliveriesOf(
  t: TestDatabase,
  type: 'deliver_webhook' | 'deliver_email',
  jobId: string,
): Promise<{ id: string; status: string; attempts: number; owner_id: string | null }[]> {
  const { rows } = await t.pool.query<{
    id: string;
    status: string;
    attempts: number;
    owner_id: string | null;
  }>(
    `select id, status, attempts, owner_id from jobdeck.jobs
      where type = $1 and related_id = $2 order by created_at`,
    [type, jobId],
  );
  return rows;
}
