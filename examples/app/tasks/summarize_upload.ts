import { defineTask, PermanentJobError, z } from 'jobdeck';

/** Summarises an imported upload; enqueued by the database trigger on `uploads`. */
export default defineTask({
  category: 'processing',
  description: 'Summarise an imported upload (enqueued by a trigger)',
  payload: z.object({ uploadId: z.number().int().positive() }),
  async run({ payload, helpers, progress }) {
    const { rows } = await helpers.query<{ content: string }>(
      'select content from uploads where id = $1',
      [payload.uploadId],
    );
    const upload = rows[0];
    if (!upload) throw new PermanentJobError(`upload ${payload.uploadId} no longer exists`);
    const [header = ''] = upload.content.split(/\r?\n/);
    const summary = { columns: header.split(','), bytes: Buffer.byteLength(upload.content) };
    await helpers.query('update uploads set summary = $2 where id = $1', [
      payload.uploadId,
      JSON.stringify(summary),
    ]);
    await progress(100, 'done');
    return summary;
  },
});
