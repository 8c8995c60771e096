import { defineTask, PermanentJobError, sleep, z } from 'jobdeck';

/**
 * Imports an uploaded CSV: parse, validate, store. The upload row was written in the same
 * transaction that enqueued this job, and is found by this job's id.
 */
export default defineTask({
  category: 'import',
  description: 'Import an uploaded CSV file',
  maxAttempts: 3,
  payload: z.object({ filename: z.string().min(1) }),
  async run({ job, payload, progress, log, signal, helpers }) {
    await progress(10, 'parse');
    const { rows } = await helpers.query<{ id: string; content: string }>(
      'select id, content from uploads where import_job_id = $1',
      [job.id],
    );
    const upload = rows[0];
    if (!upload) throw new PermanentJobError(`no upload for ${payload.filename}`);
    const lines = upload.content.split(/\r?\n/).filter((line) => line.trim() !== '');
    const [header, ...records] = lines;
    await sleep(20, signal);

    await progress(50, 'validate');
    const columns = header?.split(',').length ?? 0;
    const bad = records.findIndex((record) => record.split(',').length !== columns);
    if (columns === 0 || bad >= 0) {
      await helpers.query(`update uploads set status = 'failed' where id = $1`, [upload.id]);
      throw new PermanentJobError(
        columns === 0 ? 'the file is empty' : `row ${bad + 2} has not ${columns} columns`,
      );
    }

    await progress(80, 'store');
    // This update fires the application's trigger, which enqueues summarize_upload.
    await helpers.query(`update uploads set status = 'imported', row_count = $2 where id = $1`, [
      upload.id,
      records.length,
    ]);
    await log('info', `imported ${records.length} rows from ${payload.filename}`);
    return { rows: records.length, columns };
  },
});
