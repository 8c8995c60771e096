import { describe, expect, it } from 'vitest';
import {
  delayFigures,
  judgeSteps,
  parkingFigures,
  type StepsEvidence,
} from '../../soak/steps/checks.ts';

const NAMES = ['step-1', 'step-2'] as const;
const JOB = 'job-a';
const result = (nonce: string, attempt: number) => ({ nonce, attempt });

/** One job whose two steps each ran once and whose signal was delivered; `change` alters it. */
function evidence(change: (e: StepsEvidence) => void = () => {}): StepsEvidence {
  const e: StepsEvidence = {
    jobs: [
      {
        id: JOB,
        status: 'succeeded',
        expect: 'signal',
        result: { results: [result('n1', 1), result('n2', 1)], waited: { nonce: 's' } },
        failed_attempts: [],
      },
    ],
    steps: [
      { name: 'step-1', result: result('n1', 1), completed_at: 1100 },
      { name: 'step-2', result: result('n2', 1), completed_at: 1200 },
    ].map((s) => ({
      job_id: JOB,
      kind: 'run' as const,
      attempt: 1,
      started_at: 1000,
      wake_at: null,
      timed_out: false,
      ...s,
    })),
    runs: [
      { id: 1, job_id: JOB, step: 'step-1', attempt: 1, pid: 10, nonce: 'n1' },
      { id: 2, job_id: JOB, step: 'step-2', attempt: 1, pid: 10, nonce: 'n2' },
    ],
    effects: [
      { job_id: JOB, step: 'step-1', runs: 1 },
      { job_id: JOB, step: 'step-2', runs: 1 },
    ],
    signals: [
      { job_id: JOB, data: { nonce: 's' }, at: 2000, consumed_at: 2050, consumed_by: 'wait-go-1' },
    ],
    sent: [{ job_id: JOB, data: { nonce: 's' } }],
    crashed_pids: [],
  };
  e.steps.push(
    {
      job_id: JOB,
      name: 'sleep-1',
      kind: 'sleep',
      result: null,
      attempt: 1,
      started_at: 1200,
      completed_at: 1600,
      wake_at: 1500,
      timed_out: false,
    },
    {
      job_id: JOB,
      name: 'wait-go-1',
      kind: 'wait',
      result: { nonce: 's' },
      attempt: 1,
      started_at: 1700,
      completed_at: 2050,
      wake_at: 99_000,
      timed_out: false,
    },
  );
  change(e);
  return e;
}

/** Step 2 ran first in attempt `attempt` by `pid` (not stored), then again and stored. */
function rerunStep2(e: StepsEvidence, attempt: number, pid: number) {
  e.runs.splice(1, 0, { id: 2, job_id: JOB, step: 'step-2', attempt, pid, nonce: 'lost' });
  e.runs[2]!.id = 3;
  e.effects[1]!.runs = 2;
}

describe('the durable-steps soak’s checks', () => {
  it('passes a job whose steps each ran once, and measures the resume delays', () => {
    const { figures, problems } = judgeSteps(evidence(), NAMES);
    expect(problems).toEqual([]);
    expect(figures).toMatchObject({
      steps_stored: 2,
      completed_steps_rerun: 0,
      steps_rerun_after_crash: 0,
      signals_sent: 1,
      signals_delivered: 1,
      resume_after_sleep: { n: 1, p50_ms: 100 },
      resume_after_signal: { n: 1, p50_ms: 50 },
    });
  });

  it('counts a re-run by a killed process as a re-run after a crash, untraced without a failed attempt', () => {
    const { figures, problems } = judgeSteps(
      evidence((e) => {
        rerunStep2(e, 1, 99);
        e.crashed_pids = [99];
      }),
      NAMES,
    );
    expect(problems).toEqual([]);
    expect(figures.steps_rerun_after_crash).toBe(1);
    expect(figures.steps_rerun_after_crash_untraced).toBe(1);
    expect(
      judgeSteps(
        evidence((e) => {
          rerunStep2(e, 1, 99);
          e.jobs[0]!.failed_attempts = [1];
          e.crashed_pids = [99];
        }),
        NAMES,
      ).figures,
    ).toMatchObject({ steps_rerun_after_crash: 1, steps_rerun_after_crash_untraced: 0 });
  });

  it('flags a re-run that neither a crash nor a failed attempt explains', () => {
    const { figures, problems } = judgeSteps(
      evidence((e) => rerunStep2(e, 1, 10)),
      NAMES,
    );
    expect(figures.unexplained_reruns).toBe(1);
    expect(problems).toEqual([
      '1 step re-runs with neither a crash nor a failed attempt to explain them',
    ]);
  });

  it('flags a completed step that ran again after its result was stored', () => {
    const { figures, problems } = judgeSteps(
      evidence((e) => {
        e.runs.push({ id: 3, job_id: JOB, step: 'step-1', attempt: 2, pid: 11, nonce: 'again' });
        e.effects[0]!.runs = 2;
      }),
      NAMES,
    );
    expect(figures.completed_steps_rerun).toBe(1);
    expect(problems).toEqual(['1 completed steps ran again after their result was stored']);
  });

  it('flags a final result that differs from the stored steps, and a counter off the run log', () => {
    const { problems } = judgeSteps(
      evidence((e) => {
        e.jobs[0]!.result!.results![1] = result('other', 1);
        e.effects[0]!.runs = 3;
      }),
      NAMES,
    );
    expect(problems).toEqual([
      "1 final results differ from the steps' stored results",
      '1 side-effect counters disagree with the run log',
    ]);
  });

  it('flags a lost signal, a wrong outcome and a sleep that ended early', () => {
    const { problems } = judgeSteps(
      evidence((e) => {
        e.signals[0]!.consumed_at = null;
        e.jobs[0]!.result!.waited = 'timeout';
        e.steps[2]!.completed_at = 1400;
      }),
      NAMES,
    );
    expect(problems).toEqual([
      "1 jobs did not end as planned (succeeded, with the signal's data or a timeout)",
      'signals delivered 0 ≠ signals sent 1',
      '1 signals never consumed',
      '1 waits timed out, 0 planned to',
      '1 sleeps or timeouts ended before their time',
    ]);
  });

  it('leaves out of the signal delays a signal sent before the job waited', () => {
    const { figures } = judgeSteps(
      evidence((e) => (e.signals[0]!.at = 1650)),
      NAMES,
    );
    expect(figures.resume_after_signal.n).toBe(0);
    expect(figures.signals_delivered).toBe(1);
  });
});

describe('delayFigures()', () => {
  it('gives nearest-rank percentiles, and nulls for no samples', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(delayFigures(values)).toEqual({ n: 100, p50_ms: 50, p95_ms: 95, max_ms: 100 });
    expect(delayFigures([])).toEqual({ n: 0, p50_ms: null, p95_ms: null, max_ms: null });
  });
});

describe('parkingFigures()', () => {
  it('counts the steps done between samples that both had more jobs parked than slots', () => {
    const at = (parked: number, steps_done: number) => ({
      at: 0,
      running: 3,
      parked,
      ready: parked % 3,
      steps_done,
    });
    expect(parkingFigures([at(2, 0), at(20, 5), at(30, 9), at(25, 12), at(4, 20)], 12)).toEqual({
      slots: 12,
      most_parked_at_once: 30,
      most_running_at_once: 3,
      most_ready_waiting: 2,
      median_ready_waiting: 1,
      samples: 5,
      samples_over_slots: 3,
      steps_done_while_over_slots: 7,
    });
    expect(parkingFigures([], 12).most_parked_at_once).toBe(0);
  });
});
