import { z } from 'zod';
import { defineTask } from '../../src/jobs/task.ts';
import { SOAK_RETRY } from '../retry.ts';

/** Soak: fails its first attempt, succeeds on any later one (the retry follows within 100 ms). */
export default defineTask({
  description: 'soak: fails its first attempt, succeeds on the second',
  payload: z.object({ seq: z.number().int() }),
  ...SOAK_RETRY,
  run({ payload, attempt }) {
    if (attempt === 1)
      throw new Error(`soak flaky job ${payload.seq}: planned first-attempt failure`);
    return { seq: payload.seq, attempt };
  },
});
