import { isDeepStrictEqual } from 'node:util';
import { median, percentile } from '../../bench/stats.ts';
import { round } from '../faults.ts';

/** What the durable-steps soak reads back, as plain rows (soak/steps/queries.ts). */
export interface StepsEvidence {
  jobs: {
    id: string;
    status: string;
    expect: 'signal' | 'timeout';
    result: { results?: unknown[]; waited?: unknown } | null;
    /** Attempts that ended in an error (a kill -9 shows as WorkerLostError). */
    failed_attempts: number[];
  }[];
  /** `jobdeck.job_steps`; times in ms since the epoch. */
  steps: {
    job_id: string;
    name: string;
    kind: 'run' | 'sleep' | 'wait';
    result: unknown;
    attempt: number;
    started_at: number;
    completed_at: number | null;
    wake_at: number | null;
    timed_out: boolean;
  }[];
  /** `soak.step_runs`: one row per run of a step's function, in the order they began. */
  runs: { id: number; job_id: string; step: string; attempt: number; pid: number; nonce: string }[];
  /** `soak.step_effects`: the side-effect counter per (job, step). */
  effects: { job_id: string; step: string; runs: number }[];
  /** `jobdeck_private.job_signals`. */
  signals: {
    job_id: string;
    data: unknown;
    at: number;
    consumed_at: number | null;
    consumed_by: string | null;
  }[];
  /** The signals the driver sent and jobdeck acknowledged. */
  sent: { job_id: string; data: unknown }[];
  /** Worker processes that died mid-run (killed by the soak, or exited on their own). */
  crashed_pids: number[];
}

/** A sample of the job table while the scenario runs. */
export interface ParkingSample {
  at: number;
  running: number;
  /** Jobs queued on a sleep or wait that has not ended yet. */
  parked: number;
  /** Jobs due to run (queued, `run_at` passed) but not started: waiting for a free slot. */
  ready: number;
  /** Run steps completed so far (all jobs). */
  steps_done: number;
}

/** n, p50, p95 and max of a list of delays in ms (nulls when it is empty). */
export function delayFigures(values: number[]) {
  return {
    n: values.length,
    p50_ms: values.length ? round(percentile(values, 50), 1) : null,
    p95_ms: values.length ? round(percentile(values, 95), 1) : null,
    max_ms: values.length ? round(Math.max(...values), 1) : null,
  };
}

/**
 * Whether parked jobs left the worker slots free: the most jobs parked at once against the slots,
 * and how many steps completed between two samples that both had more jobs parked than there are
 * slots (if parked jobs held slots, nothing could run then).
 */
export function parkingFigures(samples: ParkingSample[], slots: number) {
  let overSlots = 0;
  let stepsWhileOver = 0;
  for (const [i, s] of samples.entries()) {
    if (s.parked <= slots) continue;
    overSlots++;
    const next = samples[i + 1];
    if (next && next.parked > slots) stepsWhileOver += next.steps_done - s.steps_done;
  }
  return {
    slots,
    most_parked_at_once: Math.max(0, ...samples.map((s) => s.parked)),
    most_running_at_once: Math.max(0, ...samples.map((s) => s.running)),
    /** Resumed jobs queue behind these: the resume delays include that wait. */
    most_ready_waiting: Math.max(0, ...samples.map((s) => s.ready)),
    median_ready_waiting: samples.length ? median(samples.map((s) => s.ready)) : 0,
    samples: samples.length,
    samples_over_slots: overSlots,
    steps_done_while_over_slots: stepsWhileOver,
  };
}

/**
 * Checks the durable-steps guarantees job by job and step by step, and measures how fast parked
 * jobs resumed. Returns the figures and one line per broken guarantee.
 */
export function judgeSteps(e: StepsEvidence, stepNames: readonly string[]) {
  const problems: string[] = [];
  const steps = new Map(e.steps.map((s) => [`${s.job_id}/${s.name}`, s]));
  const runs = new Map<string, StepsEvidence['runs']>();
  for (const r of [...e.runs].sort((a, b) => a.id - b.id)) {
    const key = `${r.job_id}/${r.step}`;
    runs.set(key, [...(runs.get(key) ?? []), r]);
  }
  const effects = new Map(e.effects.map((x) => [`${x.job_id}/${x.step}`, x.runs]));
  const sentTo = new Map(e.sent.map((s) => [s.job_id, s.data]));
  const crashed = new Set(e.crashed_pids);

  const byStatus: Record<string, number> = {};
  let wrongOutcome = 0;
  let missingSteps = 0;
  let resultMismatches = 0;
  let rerunAfterCrash = 0;
  let rerunUntraced = 0;
  let rerunAfterFailure = 0;
  let completedRerun = 0;
  let unexplainedRerun = 0;
  let counterMismatches = 0;
  let storedWithoutRun = 0;
  let timedOut = 0;
  const notes: string[] = [];
  const note = (line: string) => notes.length < 10 && notes.push(line);

  for (const job of e.jobs) {
    byStatus[job.status] = (byStatus[job.status] ?? 0) + 1;
    const waited = job.result?.waited;
    const outcomeOk =
      job.status === 'succeeded' &&
      (job.expect === 'timeout'
        ? waited === 'timeout'
        : sentTo.has(job.id) && isDeepStrictEqual(waited, sentTo.get(job.id)));
    if (!outcomeOk) {
      wrongOutcome++;
      note(
        `job ${job.id}: ${job.status}, expected ${job.expect}, waited ${JSON.stringify(waited)}`,
      );
    }
    if (waited === 'timeout') timedOut++;
    for (const [i, name] of stepNames.entries()) {
      const key = `${job.id}/${name}`;
      const stored = steps.get(key);
      const ran = runs.get(key) ?? [];
      if (effects.get(key) !== ran.length) counterMismatches++;
      if (!stored || stored.completed_at === null) {
        if (job.status === 'succeeded') missingSteps++;
        continue;
      }
      if (job.result && !isDeepStrictEqual(job.result.results?.[i], stored.result)) {
        resultMismatches++;
        note(`job ${job.id} ${name}: final result differs from the stored step result`);
      }
      const nonce = (stored.result as { nonce?: string } | null)?.nonce;
      const storedAt = ran.findIndex((r) => r.nonce === nonce);
      if (storedAt === -1) {
        storedWithoutRun++;
        note(`job ${job.id} ${name}: stored result ${nonce} matches no recorded run`);
        continue;
      }
      // Runs after the one whose result was stored: a completed step ran again.
      completedRerun += ran.length - storedAt - 1;
      if (ran.length - storedAt - 1 > 0) note(`job ${job.id} ${name}: ran again after completing`);
      // Runs before it were interrupted: by the death of their process, or by a failed attempt
      // (a live worker rescued after missing heartbeats). A process that died before it wrote
      // the attempt `running` leaves no failed attempt: the same attempt number runs again.
      for (const r of ran.slice(0, storedAt)) {
        const failed = job.failed_attempts.includes(r.attempt);
        if (crashed.has(r.pid)) {
          rerunAfterCrash++;
          if (!failed) rerunUntraced++;
        } else if (failed && r.attempt < ran[storedAt]!.attempt) rerunAfterFailure++;
        else {
          unexplainedRerun++;
          note(
            `job ${job.id} ${name}: re-run of attempt ${r.attempt} (pid ${r.pid}, alive, no failure)`,
          );
        }
      }
    }
  }

  // Signals: each sent one consumed once, by the job's wait, with the data sent.
  const waits = new Map(e.steps.filter((s) => s.kind === 'wait').map((s) => [s.job_id, s]));
  const consumed = e.signals.filter((s) => s.consumed_at !== null);
  const delivered = consumed.filter((s) => {
    const wait = waits.get(s.job_id);
    return (
      wait?.name === s.consumed_by &&
      isDeepStrictEqual(wait.result, s.data) &&
      isDeepStrictEqual(sentTo.get(s.job_id), s.data)
    );
  }).length;

  // Resume delays: from a sleep's end, a timeout, or a signal that found the job waiting.
  const sleepDelays: number[] = [];
  const timeoutDelays: number[] = [];
  let wokeEarly = 0;
  for (const s of e.steps) {
    if (s.kind === 'run' || s.completed_at === null || s.wake_at === null) continue;
    if (s.kind === 'sleep' || s.timed_out) {
      if (s.completed_at < s.wake_at) wokeEarly++;
      (s.kind === 'sleep' ? sleepDelays : timeoutDelays).push(s.completed_at - s.wake_at);
    }
  }
  const signalDelays = consumed
    .filter((s) => s.at >= (waits.get(s.job_id)?.started_at ?? Infinity))
    .map((s) => s.consumed_at! - s.at);

  const figures = {
    jobs: e.jobs.length,
    by_status: byStatus,
    wrong_outcome: wrongOutcome,
    waits_timed_out: timedOut,
    timeouts_planned: e.jobs.filter((j) => j.expect === 'timeout').length,
    steps_stored: e.steps.filter((s) => s.kind === 'run' && s.completed_at !== null).length,
    steps_missing: missingSteps,
    final_result_mismatches: resultMismatches,
    step_runs: e.runs.length,
    steps_rerun_after_crash: rerunAfterCrash,
    /** Of those, runs whose attempt left no trace (killed before its `running` mark). */
    steps_rerun_after_crash_untraced: rerunUntraced,
    steps_rerun_after_failed_attempt: rerunAfterFailure,
    completed_steps_rerun: completedRerun,
    unexplained_reruns: unexplainedRerun,
    stored_results_without_run: storedWithoutRun,
    side_effect_counter_mismatches: counterMismatches,
    signals_sent: e.sent.length,
    signals_delivered: delivered,
    signals_unconsumed: e.signals.length - consumed.length,
    sleeps_woke_early: wokeEarly,
    resume_after_sleep: delayFigures(sleepDelays),
    resume_after_signal: delayFigures(signalDelays),
    resume_after_timeout: delayFigures(timeoutDelays),
  };

  const must = (ok: boolean, line: string) => ok || problems.push(line);
  must(
    wrongOutcome === 0,
    `${wrongOutcome} jobs did not end as planned (succeeded, with the signal's data or a timeout)`,
  );
  must(missingSteps === 0, `${missingSteps} steps of succeeded jobs have no stored result`);
  must(
    resultMismatches === 0,
    `${resultMismatches} final results differ from the steps' stored results`,
  );
  must(
    completedRerun === 0,
    `${completedRerun} completed steps ran again after their result was stored`,
  );
  must(
    unexplainedRerun === 0,
    `${unexplainedRerun} step re-runs with neither a crash nor a failed attempt to explain them`,
  );
  must(storedWithoutRun === 0, `${storedWithoutRun} stored step results match no recorded run`);
  must(
    counterMismatches === 0,
    `${counterMismatches} side-effect counters disagree with the run log`,
  );
  must(
    delivered === e.sent.length,
    `signals delivered ${delivered} ≠ signals sent ${e.sent.length}`,
  );
  must(
    e.signals.length === consumed.length,
    `${e.signals.length - consumed.length} signals never consumed`,
  );
  must(
    timedOut === figures.timeouts_planned,
    `${timedOut} waits timed out, ${figures.timeouts_planned} planned to`,
  );
  must(wokeEarly === 0, `${wokeEarly} sleeps or timeouts ended before their time`);
  return { figures, problems, notes };
}
