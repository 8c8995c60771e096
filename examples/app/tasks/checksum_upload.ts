import { createHash } from 'node:crypto';
import { defineTask, PermanentJobError, z } from 'jobdeck';

/**
 * Checksums an upload, `copies` times over. Declares resource limits, so each job runs in its own
 * process: one that needs more than 128 MB of memory or 10 s of CPU time is stopped and fails.
 */
export default defineTask({
  category: 'processing',
  description: 'Checksum an upload, in its own process (at most 128 MB and 10 s of CPU)',
  limits: { memoryMb: 128, cpuSeconds: 10 },
  payload: z.object({
    uploadId: z.number().int().positive(),
    copies: z.number().int().min(1).max(10_000_000).default(1),
  }),
  async run({ payload, helpers, progress }) {
    const { rows } = await helpers.query<{ content: string }>(
      'select content from uploads where id = $1',
      [payload.uploadId],
    );
    const upload = rows[0];
    if (!upload) throw new PermanentJobError(`upload ${payload.uploadId} no longer exists`);
    // Kept in memory on purpose, as a naive implementation would: the limit guards the worker.
    const copies: Buffer[] = [];
    for (let i = 0; i < payload.copies; i++) copies.push(Buffer.from(`${upload.content}${i}`));
    const sha256 = createHash('sha256');
    for (const copy of copies) sha256.update(copy);
    await progress(100, 'done');
    return { sha256: sha256.digest('hex'), copies: payload.copies, pid: process.pid };
  },
});
