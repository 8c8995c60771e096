import { z } from 'zod';
import { defineTask } from '../../../src/jobs/task.ts';

/**
 * Flow soak: the task type the pause/resume phase pauses mid-run. Returns at once with when its
 * body started (ms since the epoch), beside the row's started_at.
 */
export default defineTask({
  description: 'flow soak: paused and resumed mid-run, returns its start time',
  payload: z.object({ seq: z.number().int() }),
  run() {
    return { at: Date.now() };
  },
});
