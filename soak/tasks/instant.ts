import { z } from 'zod';
import { defineTask } from '../../src/jobs/task.ts';
import { SOAK_RETRY } from '../retry.ts';

/** Soak: returns at once. `seq` is the soak's own number for the job (to find lost jobs). */
export default defineTask({
  description: 'soak: returns at once',
  payload: z.object({ seq: z.number().int() }),
  ...SOAK_RETRY,
  run({ payload }) {
    return { seq: payload.seq };
  },
});
