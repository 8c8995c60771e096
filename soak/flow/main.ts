import path from 'node:path';
import { round } from '../faults.ts';
import { countUnfinished } from '../queries.ts';
import { finishScenario, startScenario, watchLoad, type ScenarioRun } from '../scenario.ts';
import { SETTINGS } from '../settings.ts';
import {
  concurrencyCapPhase,
  fairTurnsPhase,
  pauseResumePhase,
  rateLimitPhase,
  type FlowContext,
  type FlowPhase,
  type FlowSettings,
} from './phases.ts';

/** What the soak's entry point lends the flow scenario: its logger, folders and cleanup. */
export type FlowRun = ScenarioRun;

const TASKS_DIR = path.join(import.meta.dirname, 'tasks');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `npm run soak -- --flow`: flow control across 3 worker processes on one PostgreSQL. Runs the
 * phases (soak/flow/phases.ts: a concurrency cap of 3 on one task type, a 100,000 / 10
 * two-tenant backlog, a rate limit of 50 starts/s on another, a pause and resume of a third
 * mid-run) together: their backlogs first, then the workers and the live part; waits for every job to finish, prints each phase's figures,
 * writes soak/results/flow-latest.json and returns 1 when a limit was broken or jobs were left.
 */
export async function runFlow(run: FlowRun): Promise<number> {
  const { say } = run;
  const started = Date.now();
  const settings: FlowSettings = {
    big_tenant_jobs: SETTINGS.jobs,
    small_tenant_jobs: 10,
    capped_jobs: SETTINGS.quick ? 150 : 300,
    cap: 3,
    small_tenant_wait_limit_s: 10,
    fairness: SETTINGS.fifo ? 'off' : 'org',
    enqueue_batch: 1000,
    rated_jobs: SETTINGS.quick ? 200 : 500,
    rate_limit: 50,
    rate_period_ms: 1000,
    pause_ms: 3000,
    pause_limit_ms: 1000,
  };
  const phases: FlowPhase[] = [
    concurrencyCapPhase,
    fairTurnsPhase(),
    rateLimitPhase,
    pauseResumePhase(),
  ];
  // Read by soak/flow/tasks/flow_tenant.ts, here and in the workers (they inherit it).
  process.env.SOAK_FLOW_FIFO = SETTINGS.fifo ? '1' : '0';

  const { pool, fleet, machine } = await startScenario(run, {
    name: 'flow',
    tasksDir: TASKS_DIR,
    env: {},
  });
  const ctx: FlowContext = { pool, settings, say };
  const prepareStarted = Date.now();
  for (const phase of phases) await phase.prepare(ctx);
  const prepared = Date.now();
  say(`flow: starting ${SETTINGS.workers} workers`);
  await Promise.all(
    Array.from({ length: SETTINGS.workers }, (_, i) =>
      fleet.start(`flow-worker-${i + 1}`, 'worker'),
    ),
  );

  const load = watchLoad();
  const runStarted = Date.now();
  for (const phase of phases) await phase.start(ctx);
  const enqueued = Date.now();
  say(`flow: all enqueued after ${round((enqueued - runStarted) / 1000)} s; waiting for the jobs`);
  const deadline = enqueued + (SETTINGS.quick ? 120_000 : 900_000);
  let left = await countUnfinished(pool);
  while (left > 0 && Date.now() < deadline && !run.stopping()) {
    await sleep(500);
    left = await countUnfinished(pool);
  }
  const finished = Date.now();
  const loadFigures = load.stop();

  const reports: Record<string, unknown> = {};
  const problems: string[] = [];
  if (left > 0) problems.push(`${left} jobs still unfinished at the deadline`);
  for (const phase of phases) {
    const report = await phase.check(ctx);
    reports[phase.name] = report.figures;
    problems.push(...report.problems);
  }
  const jobs = (await pool.query<{ n: number }>('select count(*)::int as n from jobdeck.jobs'))
    .rows[0]!.n;
  const results = {
    scenario: 'flow',
    ok: problems.length === 0,
    problems,
    phases: reports,
    jobs,
    throughput_jobs_per_sec: Math.round(jobs / ((finished - runStarted) / 1000)),
    durations_s: {
      setup: round((runStarted - started) / 1000),
      backlog_enqueue: round((prepared - prepareStarted) / 1000),
      live_enqueue: round((enqueued - runStarted) / 1000),
      run: round((finished - runStarted) / 1000),
    },
    settings: {
      ...settings,
      workers: SETTINGS.workers,
      concurrency: SETTINGS.concurrency,
      run_at: new Date(started).toISOString(),
      database: 'embedded',
    },
    machine: { ...machine, ...loadFigures },
  };
  console.log(JSON.stringify(results.phases, null, 2));
  console.table({
    'most running at once (flow_capped)': {
      value: (reports.concurrency_cap as { most_running_at_once: number }).most_running_at_once,
      limit: `≤ ${settings.cap}`,
    },
    "small tenant's wait (s)": {
      value: (reports.fair_turns as { small_tenant_wait_s: number | null }).small_tenant_wait_s,
      limit: `≤ ${settings.small_tenant_wait_limit_s}`,
    },
    'most starts in any 1 s (flow_rated)': {
      value: (reports.rate_limit as { most_starts_in_any_window: number })
        .most_starts_in_any_window,
      limit: `≤ ${settings.rate_limit}`,
    },
    '  achieved rate (starts/s)': {
      value: (reports.rate_limit as { achieved_starts_per_sec: number | null })
        .achieved_starts_per_sec,
      limit: '',
    },
    'pause → last start (ms)': {
      value: (reports.pause_resume as { pause_to_last_start_ms?: number | null })
        .pause_to_last_start_ms,
      limit: `≤ ${settings.pause_limit_ms}`,
    },
    'resume → next start (ms)': {
      value: (reports.pause_resume as { resume_to_next_start_ms?: number | null })
        .resume_to_next_start_ms,
      limit: `≤ ${settings.pause_limit_ms}`,
    },
    'throughput (jobs/s)': { value: results.throughput_jobs_per_sec, limit: '' },
    'load average, 1 min (max)': { value: loadFigures.load_1m_max, limit: '' },
  });
  return finishScenario(run, 'flow', results);
}
