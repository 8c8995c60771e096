import { defineTask, z } from 'jobdeck';

/**
 * Tells a partner's API that an upload is ready. The partner accepts at most 4 calls per second
 * per account, so the task declares that rate limit per owner: jobdeck spaces the starts across
 * every worker, and a job over the rate waits without spending an attempt. When the partner still
 * answers 429 (`simulate429` stands for it here, once), the task says so and the job runs again
 * later, again without spending an attempt.
 */
export default defineTask({
  category: 'processing',
  description: "Notify a partner's API (at most 4 calls per second per owner)",
  rateLimit: { limit: 4, period: '1s', key: 'owner' },
  maxAttempts: 1,
  payload: z.object({
    uploadId: z.number().int().positive(),
    simulate429: z.boolean().default(false),
  }),
  run({ payload, job, rateLimited }) {
    if (payload.simulate429 && job.rate_deferrals === 0) rateLimited('200ms');
    return { notified: payload.uploadId, deferrals: job.rate_deferrals };
  },
});
