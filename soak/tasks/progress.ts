import { z } from 'zod';
import { defineTask } from '../../src/jobs/task.ts';
import { sleep } from '../../src/util/sleep.ts';
import { SOAK_RETRY } from '../retry.ts';

/** Soak: reports progress `steps` times with `stepMs` sleeps between, so it is often running. */
export default defineTask({
  description: 'soak: reports progress several times with small sleeps',
  payload: z.object({
    seq: z.number().int(),
    steps: z.number().int().min(1).max(20).default(5),
    stepMs: z.number().int().min(0).max(10_000).default(20),
  }),
  ...SOAK_RETRY,
  async run({ payload, progress, signal }) {
    for (let step = 1; step <= payload.steps; step++) {
      await sleep(payload.stepMs, signal);
      await progress({ completed: step, total: payload.steps }, `step ${step}`);
    }
    return { seq: payload.seq };
  },
});
