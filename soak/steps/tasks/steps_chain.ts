import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { defineTask } from '../../../src/jobs/task.ts';
import { sleep } from '../../../src/util/sleep.ts';
import { SOAK_RETRY } from '../../retry.ts';

/** The step names, in order; `sleep-1` follows step-2 and `wait-go-1` follows step-3. */
export const STEP_NAMES = ['step-1', 'step-2', 'step-3', 'step-4', 'step-5'] as const;

/**
 * Soak (`--steps`): five durable steps, a `sleep` after step 2 and a `waitFor('go')` after step
 * 3. Each step's function first records its run (a row in `soak.step_runs` with a fresh nonce,
 * and `runs + 1` in `soak.step_effects`), then works for `stepMs` (the window in which a kill -9
 * interrupts it) and returns the nonce: a stored result names the one run that produced it, so
 * the soak can tell a re-run after a crash from a completed step running again. A wait that
 * times out is caught and recorded in the result.
 */
export default defineTask({
  description: 'soak: five durable steps with a sleep and a wait for a signal',
  payload: z.object({
    seq: z.number().int(),
    stepMs: z.array(z.number().int().min(0).max(10_000)).length(STEP_NAMES.length),
    sleepMs: z.number().int().min(0).max(600_000),
    waitTimeoutMs: z.number().int().min(1).max(3_600_000),
    /** What the soak driver plans: send the signal, or let the wait time out. */
    expect: z.enum(['signal', 'timeout']),
  }),
  ...SOAK_RETRY,
  // Every kill -9 that lands mid-step costs an attempt: room for several.
  maxAttempts: 10,
  totalSteps: STEP_NAMES.length + 2,
  async run({ payload, job, attempt, helpers, signal, step, sleep: park, waitFor }) {
    const results: unknown[] = [];
    const work = (i: number) =>
      step(STEP_NAMES[i]!, async () => {
        const nonce = randomUUID();
        await helpers.query(
          `with run as (
             insert into soak.step_runs (job_id, step, attempt, pid, nonce) values ($1, $2, $3, $4, $5)
           )
           insert into soak.step_effects (job_id, step, runs) values ($1, $2, 1)
           on conflict (job_id, step) do update set runs = soak.step_effects.runs + 1`,
          [job.id, STEP_NAMES[i], attempt, process.pid, nonce],
        );
        await sleep(payload.stepMs[i]!, signal);
        return { nonce, attempt };
      });
    results.push(await work(0), await work(1));
    await park(payload.sleepMs);
    results.push(await work(2));
    let waited: unknown;
    try {
      waited = await waitFor('go', { timeout: payload.waitTimeoutMs });
    } catch (error) {
      if ((error as Error).name !== 'WaitTimeoutError') throw error;
      waited = 'timeout';
    }
    results.push(await work(3), await work(4));
    return { seq: payload.seq, results, waited };
  },
});
