import { z } from 'zod';
import { defineTask } from '../../../src/jobs/task.ts';

/**
 * Flow soak: at most 50 starts per second across every worker (GCRA, docs/recipes.md "Rate
 * limits"). Returns at once with when its body started (ms since the epoch), beside the row's
 * started_at (the start transaction's time, which the limit is decided on).
 */
export default defineTask({
  description: 'flow soak: rate limited to 50 starts per second, returns its start time',
  payload: z.object({ seq: z.number().int() }),
  rateLimit: { limit: 50, period: '1s' },
  run() {
    return { at: Date.now() };
  },
});
