import { z } from 'zod';
import { defineTask } from '../../../src/jobs/task.ts';

/**
 * Flow soak: a task type capped at 3 running at once across every worker. Sleeps 20 ms and
 * returns when its body ran (`from`/`to`, ms since the epoch on this machine's clock, shared by
 * the worker processes), so the soak can count how many bodies overlapped.
 */
export default defineTask({
  description: 'flow soak: capped at 3 at once, 20 ms each',
  payload: z.object({ seq: z.number().int() }),
  maxConcurrent: 3,
  async run() {
    const from = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
    return { from, to: Date.now() };
  },
});
