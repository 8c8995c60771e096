import { z } from 'zod';
import { defineTask } from '../../src/jobs/task.ts';
import { SOAK_RETRY } from '../retry.ts';

/**
 * Soak: records its side effect as one row in `soak.side_effects` per run, with no unique
 * constraint, so a re-run shows up as a second row for the job: the at-least-once duplicates.
 */
export default defineTask({
  description: 'soak: inserts one row per run into soak.side_effects',
  payload: z.object({ seq: z.number().int() }),
  ...SOAK_RETRY,
  async run({ payload, job, attempt, helpers }) {
    await helpers.query(
      'insert into soak.side_effects (job_id, attempt, at) values ($1, $2, clock_timestamp())',
      [job.id, attempt],
    );
    return { seq: payload.seq };
  },
});
