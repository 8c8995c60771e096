import os from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { migrate } from '../src/db/migrate.ts';
import { createDb } from '../src/db/pool.ts';
import { loadTasks, syncTaskTypes } from '../src/jobs/registry.ts';
import { startSoakCluster, type SoakCluster } from './cluster.ts';
import { round } from './faults.ts';
import { Fleet } from './fleet.ts';
import { createSoakPool } from './queries.ts';
import { machineInfo } from './report.ts';
import { SETTINGS } from './settings.ts';

/** What the soak's entry point lends a scenario (`--flow`, `--steps`): its logger, folders, cleanup. */
export interface ScenarioRun {
  say: (line: string) => void;
  logsDir: string;
  resultsDir: string;
  /** Hands a resource to the entry point, which stops it whatever happens (also on Ctrl-C). */
  own(resources: { cluster?: SoakCluster; pool?: pg.Pool; fleet?: Fleet }): void;
  stopping(): boolean;
}

/**
 * A scenario's embedded PostgreSQL (migrated, with the task types of `tasksDir` registered) and
 * its not yet started fleet of workers, each handed to the entry point for cleanup.
 */
export async function startScenario(
  run: ScenarioRun,
  options: { name: string; tasksDir: string; env: Record<string, string> },
) {
  await mkdir(run.logsDir, { recursive: true });
  run.say(`${options.name}: starting embedded PostgreSQL`);
  const cluster = await startSoakCluster();
  run.own({ cluster });
  const pool = createSoakPool(cluster.url);
  run.own({ pool });
  await migrate(pool);
  await syncTaskTypes(createDb(pool), await loadTasks(options.tasksDir), {
    maxAttempts: 3,
    maxPayloadBytes: 1 << 20,
  });
  const pgVersion = (
    await pool.query<{ v: string }>("select current_setting('server_version') as v")
  ).rows[0]!.v;
  const fleet = new Fleet({
    logsDir: run.logsDir,
    say: run.say,
    env: Fleet.environment({
      DATABASE_URL: cluster.url,
      JOBDECK_TASKS_DIR: options.tasksDir,
      JOBDECK_DATA_DIR: path.join(cluster.dataDir, 'state'),
      JOBDECK_CRONTAB: path.join(cluster.dataDir, 'no-crontab'),
      JOBDECK_CONCURRENCY: String(SETTINGS.concurrency),
      JOBDECK_POLL_INTERVAL_MS: String(SETTINGS.poll_interval_ms),
      JOBDECK_SHUTDOWN_TIMEOUT_MS: String(SETTINGS.shutdown_timeout_ms),
      JOBDECK_LOG_LEVEL: 'info',
      GRAPHILE_ENV: 'production',
      ...options.env,
    }),
  });
  run.own({ fleet });
  return { cluster, pool, fleet, machine: machineInfo(pgVersion) };
}

/**
 * Prints a scenario's problems, writes its results to soak/results/`<name>`-latest.json and
 * returns the exit code (1 when it found a problem).
 */
export async function finishScenario(
  run: ScenarioRun,
  name: string,
  results: { ok: boolean; problems: string[] },
): Promise<number> {
  for (const problem of results.problems) run.say(`PROBLEM: ${problem}`);
  await mkdir(run.resultsDir, { recursive: true });
  const file = `${name}-latest.json`;
  await writeFile(path.join(run.resultsDir, file), `${JSON.stringify(results, null, 2)}\n`);
  run.say(`${name}: ${results.ok ? 'passed' : 'FAILED'}; wrote soak/results/${file}`);
  return results.ok ? 0 : 1;
}

/** The machine's 1-minute load average every second while a scenario runs. */
export function watchLoad() {
  const samples: number[] = [];
  const timer = setInterval(() => samples.push(os.loadavg()[0]!), 1000);
  return {
    stop() {
      clearInterval(timer);
      const sorted = [...samples].sort((a, b) => a - b);
      return {
        load_1m_max: round(sorted.at(-1) ?? os.loadavg()[0]!),
        load_1m_median: round(sorted[Math.floor(sorted.length / 2)] ?? os.loadavg()[0]!),
        load_at_end: os.loadavg().map((l) => round(l)),
      };
    },
  };
}
