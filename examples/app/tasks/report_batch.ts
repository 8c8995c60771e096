import { defineTask, z } from 'jobdeck';

/**
 * The on-complete job of a batch of uploads (enqueueBatch): jobdeck adds the outcome under
 * `batch` to the payload the application gave. Returns it as its result, where a real application
 * would mail or store the report.
 */
export default defineTask({
  category: 'processing',
  description: 'Report how a batch of uploads went (on-complete job of enqueueBatch)',
  payload: z.object({
    label: z.string(),
    batch: z.object({
      id: z.string(),
      total: z.number().int(),
      succeeded: z.number().int(),
      failed: z.number().int(),
      cancelled: z.number().int(),
    }),
  }),
  run({ payload }) {
    return { label: payload.label, ...payload.batch };
  },
});
