import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelJobOn, retryJobOn } from '../../src/jobs/control.ts';
import { InvalidJobStateError } from '../../src/errors.ts';
import { JOB_STATUSES, canCancel, canRetry, isFinished } from '../../src/jobs/states.ts';
import type { Job } from '../../src/db/types.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

describe('canCancel() and canRetry()', () => {
  let t: TestDatabase;

  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('report exactly what jobdeck.cancel_job and jobdeck.retry_job decide, for every status', async () => {
    const client = await t.pool.connect();
    try {
      for (const status of JOB_STATUSES) {
        await client.query('begin');
        try {
          const { rows } = await client.query<Job>(
            `insert into jobdeck.jobs (type, status, finished_at) values ('quick', $1, $2) returning *`,
            [status, isFinished({ status }) ? new Date() : null],
          );
          const job = rows[0]!;
          // whether the call acted on the job; a refusal is InvalidJobStateError (JD011)
          const acted = async (call: () => Promise<Job>, changed: (after: Job) => boolean) => {
            await client.query('savepoint attempt');
            try {
              return changed(await call());
            } catch (error) {
              expect(error, `${status}`).toBeInstanceOf(InvalidJobStateError);
              return false;
            } finally {
              await client.query('rollback to savepoint attempt');
            }
          };
          const cancelled = await acted(
            () => cancelJobOn(client, job.id),
            // a cancelled job comes back unchanged
            (after) => after.status !== status || after.cancel_requested_at !== null,
          );
          const retried = await acted(
            () => retryJobOn(client, job.id),
            (after) => after.status === 'queued' && after.manual_retries === 1,
          );
          expect({ status, cancelled, retried }).toEqual({
            status,
            cancelled: canCancel(job),
            retried: canRetry(job),
          });
        } finally {
          await client.query('rollback');
        }
      }
    } finally {
      client.release();
    }
  });
});
