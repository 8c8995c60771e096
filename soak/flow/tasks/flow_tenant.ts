import { z } from 'zod';
import { defineTask } from '../../../src/jobs/task.ts';

/**
 * Flow soak: a tenant's job; returns at once with when its body started (ms since the epoch).
 * First-in first-out instead of fair turns when SOAK_FLOW_FIFO is set (`-- --flow --fifo`, for
 * comparison): in the definition, since every worker registers its task types when it starts.
 */
export default defineTask({
  description: 'flow soak: returns at once with its start time',
  payload: z.object({ seq: z.number().int() }),
  fairness: process.env.SOAK_FLOW_FIFO === '1' ? false : 'org',
  run() {
    return { at: Date.now() };
  },
});
