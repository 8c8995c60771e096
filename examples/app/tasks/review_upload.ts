import { defineTask, PermanentJobError, z } from 'jobdeck';

/**
 * Reviews an upload in durable steps: reads it, counts its lines (flaky on the first attempt, to
 * show a retry resuming after the completed step), then waits for a reviewer's `approve` signal
 * without holding a worker slot. Completed steps are stored with the job and not run again.
 */
export default defineTask({
  category: 'validation',
  description: 'Review an upload in durable steps, waiting for approval',
  totalSteps: 3,
  maxAttempts: 3,
  backoff: ['0s'],
  payload: z.object({ uploadId: z.number().int().positive() }),
  async run({ payload, helpers, step, waitFor, attempt }) {
    const read = await step('read', async () => {
      const { rows } = await helpers.query<{ content: string }>(
        'select content from uploads where id = $1',
        [payload.uploadId],
      );
      if (!rows[0]) throw new PermanentJobError(`upload ${payload.uploadId} no longer exists`);
      return { content: rows[0].content, readOnAttempt: attempt };
    });
    const lines = await step('count', () => {
      if (attempt === 1) throw new Error('the line counter is flaky on a first attempt');
      return read.content.split('\n').filter(Boolean).length;
    });
    const approval = await waitFor<{ by: string }>('approve', { timeout: '1h' });
    return { lines, readOnAttempt: read.readOnAttempt, approvedBy: approval.by };
  },
});
