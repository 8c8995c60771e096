import { z } from 'zod';
import { defineTask } from '../../../src/jobs/task.ts';

/** Flow soak: a tenant's job; returns at once with when its body started (ms since the epoch). */
export default defineTask({
  description: 'flow soak: returns at once with its start time',
  payload: z.object({ seq: z.number().int() }),
  run() {
    return { at: Date.now() };
  },
});
