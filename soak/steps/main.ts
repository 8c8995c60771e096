import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createJobdeck } from '../../src/client.ts';
import { drain } from '../backlog.ts';
import { round } from '../faults.ts';
import { killHard } from '../processes.ts';
import { countUnfinished, workersWithRunning } from '../queries.ts';
import { finishScenario, startScenario, watchLoad, type ScenarioRun } from '../scenario.ts';
import { SETTINGS } from '../settings.ts';
import { judgeSteps, parkingFigures, type ParkingSample, type StepsEvidence } from './checks.ts';
import {
  createStepsSchema,
  readStepsEvidence,
  sampleParking,
  waitingForSignal,
} from './queries.ts';
import { STEP_NAMES } from './tasks/steps_chain.ts';

const TASKS_DIR = path.join(import.meta.dirname, 'tasks');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const between = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

/** The scenario's knobs, written into the results as they are. */
function stepsSettings() {
  const quick = SETTINGS.quick;
  return {
    jobs: SETTINGS.steps_jobs,
    workers: SETTINGS.workers,
    /** Few slots per worker, so that far more jobs are parked at once than there are slots. */
    concurrency: 4,
    /**
     * Jobs enqueued per second, one batch a second: below what the 12 slots can run (about 10
     * jobs/s), so resumed jobs find a slot.
     */
    arrivals_per_sec: 5,
    heartbeat_interval_ms: SETTINGS.heartbeat_interval_ms,
    rescue_after_ms: SETTINGS.rescue_after_ms,
    /** Each step's function works this long after recording its run: the window for a kill. */
    step_ms: [50, 300],
    sleep_ms: [1000, 5000],
    /** Share of the jobs whose wait is left to time out (never signalled). */
    timeout_share: 0.25,
    timeout_ms: [1000, 4000],
    /** Timeout of the waits that get a signal: long enough never to expire. */
    signalled_wait_timeout_ms: 120_000,
    /** Share of the signalled jobs whose signal is sent early, whatever the job is doing. */
    early_signal_share: 0.2,
    early_signal_ms: [0, 8000],
    /** Delay of the other signals after the driver sees the job parked on its wait. */
    signal_after_parked_ms: [0, 3000],
    kill_every_ms: [3000, 8000],
    max_kills: quick ? 5 : 20,
    drain_deadline_ms: quick ? 120_000 : 600_000,
  };
}

interface Kill {
  worker: string;
  pid: number;
  at: string;
  running_jobs: number;
}

/**
 * `npm run soak -- --steps`: durable steps under kill -9. `jobs` five-step jobs
 * (soak/steps/tasks/steps_chain.ts), 5 a second, each sleeping after step 2 and waiting for a
 * signal after step 3, on 3 workers of 4 slots; the driver sends the signals at random times (a quarter of the
 * waits are left to time out) and kill -9s the busiest worker every few seconds, starting a fresh
 * one in its place. Then checks every job and step (soak/steps/checks.ts), writes
 * soak/results/steps-latest.json and returns 1 when a guarantee was broken.
 */
export async function runSteps(run: ScenarioRun): Promise<number> {
  const { say } = run;
  const started = Date.now();
  const settings = stepsSettings();
  const { pool, fleet, machine } = await startScenario(run, {
    name: 'steps',
    tasksDir: TASKS_DIR,
    env: {
      JOBDECK_CONCURRENCY: String(settings.concurrency),
      JOBDECK_HEARTBEAT_INTERVAL_MS: String(settings.heartbeat_interval_ms),
      JOBDECK_RESCUE_AFTER_MS: String(settings.rescue_after_ms),
    },
  });
  await createStepsSchema(pool);
  const jobdeck = createJobdeck({ pool });
  say(`steps: starting ${settings.workers} workers of ${settings.concurrency} slots`);
  await Promise.all(
    Array.from({ length: settings.workers }, (_, i) =>
      fleet.start(`steps-worker-${i + 1}`, 'worker'),
    ),
  );
  let done = false;
  const load = watchLoad();
  const samples: ParkingSample[] = [];
  const sampler = (async () => {
    while (!done && !run.stopping()) {
      samples.push(await sampleParking(pool));
      await sleep(250);
    }
  })();

  // The signals: some early (before the job waits, or while it sleeps), the rest once it waits.
  const sent: StepsEvidence['sent'] = [];
  const sendFailures: string[] = [];
  const timers: Promise<void>[] = [];
  const send = (id: string, afterMs: number) =>
    timers.push(
      sleep(afterMs).then(async () => {
        const data = { nonce: randomUUID() };
        try {
          await jobdeck.signal(id, 'go', data);
          sent.push({ job_id: id, data });
        } catch (error) {
          sendFailures.push(`${id}: ${(error as Error).message}`);
        }
      }),
    );
  let pending: string[] = [];
  let enqueued = false;
  const signaller = (async () => {
    while ((!enqueued || pending.length > 0) && !done && !run.stopping()) {
      const waiting = new Set(await waitingForSignal(pool, pending));
      for (const id of waiting)
        send(id, between(settings.signal_after_parked_ms[0]!, settings.signal_after_parked_ms[1]!));
      pending = pending.filter((id) => !waiting.has(id));
      await sleep(200);
    }
  })();

  // The jobs arrive at a pace the slots keep up with, so that a resumed job finds a free slot
  // (the resume delays then measure the wake-up, not a queue), yet, each parked for seconds, far
  // more of them are parked at a time than there are slots.
  const runStarted = Date.now();
  const plan = (seq: number) => {
    const timeout = Math.random() < settings.timeout_share;
    return {
      seq,
      stepMs: STEP_NAMES.map(() => between(settings.step_ms[0]!, settings.step_ms[1]!)),
      sleepMs: between(settings.sleep_ms[0]!, settings.sleep_ms[1]!),
      waitTimeoutMs: timeout
        ? between(settings.timeout_ms[0]!, settings.timeout_ms[1]!)
        : settings.signalled_wait_timeout_ms,
      expect: timeout ? ('timeout' as const) : ('signal' as const),
    };
  };
  const enqueue = (async () => {
    for (let seq = 0; seq < settings.jobs && !run.stopping();) {
      const batch = Array.from(
        { length: Math.min(settings.arrivals_per_sec, settings.jobs - seq) },
        () => plan(seq++),
      );
      const jobs = await jobdeck.enqueueJobs(
        batch.map((payload) => ({ type: 'steps_chain', payload })),
      );
      for (const [i, job] of jobs.entries()) {
        if (batch[i]!.expect === 'timeout') continue;
        if (Math.random() < settings.early_signal_share)
          send(job.id, between(settings.early_signal_ms[0]!, settings.early_signal_ms[1]!));
        else pending.push(job.id);
      }
      await sleep(Math.max(0, runStarted + (seq / settings.arrivals_per_sec) * 1000 - Date.now()));
    }
    enqueued = true;
  })();

  // The faults: kill -9 of the worker with the most jobs running (in a step), then a fresh one.
  const kills: Kill[] = [];
  const killer = (async () => {
    let next = settings.workers + 1;
    while (kills.length < settings.max_kills && !done && !run.stopping()) {
      await sleep(between(settings.kill_every_ms[0]!, settings.kill_every_ms[1]!));
      const alive = fleet.workers().filter((w) => !w.exit);
      const rows = await workersWithRunning(
        pool,
        alive.map((w) => w.pid),
      );
      const busiest = rows[0];
      const victim = busiest && busiest.running > 0 && alive.find((w) => w.pid === busiest.pid);
      if (!victim) continue;
      killHard(victim);
      kills.push({
        worker: victim.name,
        pid: victim.pid,
        at: new Date().toISOString(),
        running_jobs: busiest.running,
      });
      say(`steps: kill -9 of ${victim.name} (${busiest.running} running); starting a fresh one`);
      await fleet.start(`steps-worker-${next++}`, 'worker');
    }
  })();

  await enqueue;
  say(`steps: ${settings.jobs} jobs enqueued; waiting for them to finish`);
  const gaveUpAfterMs = await drain(pool, {
    deadline: Date.now() + settings.drain_deadline_ms,
    stallMs: SETTINGS.stall_ms,
    stopped: run.stopping,
    say,
  });
  const finished = Date.now();
  done = true;
  await Promise.all([sampler, signaller, killer, ...timers]);
  const loadFigures = load.stop();
  const left = await countUnfinished(pool);

  say('steps: checking every job and step');
  // Killed by the soak, or died on their own (then replaced, and a problem below).
  const crashed = fleet.processes.filter(
    (p) => p.exit?.signal === 'SIGKILL' || (p.exit && !p.expectedExit),
  );
  const evidence = await readStepsEvidence(
    pool,
    sent,
    crashed.map((p) => p.pid),
  );
  const { figures, problems, notes } = judgeSteps(evidence, STEP_NAMES);
  const parking = parkingFigures(samples, settings.workers * settings.concurrency);
  if (left > 0) problems.push(`${left} jobs unfinished when the soak stopped waiting`);
  if (gaveUpAfterMs !== null) problems.push(`nothing finished for ${gaveUpAfterMs} ms`);
  if (sendFailures.length > 0)
    problems.push(`${sendFailures.length} signals refused, e.g. ${sendFailures[0]}`);
  if (kills.length === 0 || figures.steps_rerun_after_crash === 0)
    problems.push(
      `no kill interrupted a step (${kills.length} kills): the crash checks did not run`,
    );
  for (const r of fleet.replacements)
    problems.push(
      `${r.name} exited on its own (${r.exit}) at ${r.at}; replaced by ${r.replaced_by}`,
    );
  if (parking.most_parked_at_once <= parking.slots)
    problems.push(
      `never more jobs parked (${parking.most_parked_at_once}) than worker slots (${parking.slots}): the slot check did not run`,
    );
  else if (parking.steps_done_while_over_slots === 0)
    problems.push('no step completed while more jobs were parked than there are worker slots');

  const results = {
    scenario: 'steps',
    ok: problems.length === 0,
    problems,
    examples: notes,
    ...figures,
    parking,
    kills: { count: kills.length, replacements: fleet.replacements, at: kills },
    throughput_steps_per_sec: round(figures.steps_stored / ((finished - runStarted) / 1000)),
    durations_s: {
      setup: round((runStarted - started) / 1000),
      run: round((finished - runStarted) / 1000),
    },
    settings: { ...settings, run_at: new Date(started).toISOString(), database: 'embedded' },
    machine: { ...machine, ...loadFigures },
  };
  const delay = (d: { p50_ms: number | null; p95_ms: number | null }) =>
    `${d.p50_ms ?? '-'} / ${d.p95_ms ?? '-'}`;
  console.table({
    'jobs succeeded (as planned)': {
      value: `${figures.jobs - figures.wrong_outcome} of ${figures.jobs}`,
      limit: `${figures.jobs}`,
    },
    'steps stored': { value: figures.steps_stored, limit: `${figures.jobs * STEP_NAMES.length}` },
    'kill -9 of a worker': { value: kills.length, limit: '' },
    'steps re-run after a crash': {
      value: `${figures.steps_rerun_after_crash} (${figures.steps_rerun_after_crash_untraced} untraced)`,
      limit: '',
    },
    'completed steps re-run': { value: figures.completed_steps_rerun, limit: '0' },
    'final result ≠ stored steps': { value: figures.final_result_mismatches, limit: '0' },
    'signals sent / delivered': {
      value: `${figures.signals_sent} / ${figures.signals_delivered}`,
      limit: 'equal',
    },
    'waits timed out / planned': {
      value: `${figures.waits_timed_out} / ${figures.timeouts_planned}`,
      limit: 'equal',
    },
    'most parked at once / slots': {
      value: `${parking.most_parked_at_once} / ${parking.slots}`,
      limit: '> slots',
    },
    'steps done while parked > slots': { value: parking.steps_done_while_over_slots, limit: '> 0' },
    'jobs due, waiting for a slot (median / most)': {
      value: `${parking.median_ready_waiting} / ${parking.most_ready_waiting}`,
      limit: '',
    },
    'resume after sleep p50 / p95 (ms)': { value: delay(figures.resume_after_sleep), limit: '' },
    'resume after signal p50 / p95 (ms)': { value: delay(figures.resume_after_signal), limit: '' },
    'resume after timeout p50 / p95 (ms)': {
      value: delay(figures.resume_after_timeout),
      limit: '',
    },
    'load average, 1 min (max)': { value: loadFigures.load_1m_max, limit: '' },
  });
  for (const line of notes) say(`e.g. ${line}`);
  return finishScenario(run, 'steps', results);
}
