import { readFile } from 'node:fs/promises';
import { defineTask, sleep, z } from 'jobdeck';

/**
 * Processes an uploaded file in `steps` slices, reporting progress after each one, so the page has
 * something to follow (and time to cancel it). The file stays where the server saved it; only its
 * path travels in the payload.
 */
export default defineTask({
  category: 'import',
  description: 'Process an uploaded file, slice by slice, with progress',
  payload: z.object({
    filename: z.string().min(1).max(200),
    path: z.string().min(1),
    steps: z.number().int().min(1).max(100).default(20),
    stepDelayMs: z.number().int().min(0).max(10_000).default(150),
  }),
  async run({ payload, progress, signal }) {
    const content = await readFile(payload.path, 'utf8');
    const lines = content.split('\n').filter((line) => line.trim() !== '').length;
    for (let step = 1; step <= payload.steps; step++) {
      await sleep(payload.stepDelayMs, signal);
      await progress(Math.floor((100 * step) / payload.steps), `slice ${step} of ${payload.steps}`);
    }
    return { filename: payload.filename, lines, bytes: Buffer.byteLength(content) };
  },
});
