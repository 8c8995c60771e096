import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, createPool } from '../../src/db/pool.ts';
import { JobStateReader, UNREADABLE } from '../../src/live/state-reader.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let t: TestDatabase;
beforeAll(async () => (t = await createTestDatabase()));
afterAll(() => t.drop());

/** A row of alice's at acme at `progress` % (the reader reads the table, whatever made the row). */
async function jobAt(progress: number): Promise<{ id: string }> {
  const { rows } = await t.pool.query<{ id: string }>(
    `insert into jobdeck.jobs (type, progress, owner_id, org_id)
     values ('quick', $1, 'alice', 'acme') returning id`,
    [progress],
  );
  return rows[0]!;
}

describe('JobStateReader', () => {
  it('reads the rows of a burst of notifications with one query, in the order asked', async () => {
    const pool = createPool(t.url, { max: 2 });
    let queries = 0;
    pool.on('acquire', () => (queries += 1));
    const reader = new JobStateReader(createDb(pool));
    try {
      const jobs = [await jobAt(10), await jobAt(20), await jobAt(30)];
      const answered: string[] = [];
      const asks = [...jobs, jobs[0]!].map((job) =>
        reader.read(job.id).then((state) => {
          answered.push(job.id);
          return state;
        }),
      );
      const missing = reader.read('00000000-0000-4000-8000-000000000000');
      const states = await Promise.all(asks);
      expect(states.map((s) => s !== UNREADABLE && s?.progress)).toEqual([10, 20, 30, 10]);
      expect(states[0]).toMatchObject({ status: 'queued', owner_id: 'alice', org_id: 'acme' });
      expect(await missing).toBeNull();
      expect(answered).toEqual([jobs[0]!.id, jobs[0]!.id, jobs[1]!.id, jobs[2]!.id]);
      expect(queries).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('answers UNREADABLE, not "no such job", when the database cannot be read', async () => {
    const job = await jobAt(5);
    const pool = createPool(t.url, { max: 1 });
    const reader = new JobStateReader(createDb(pool));
    await pool.end();
    expect(await reader.read(job.id)).toBe(UNREADABLE);
    expect(await new JobStateReader(t.db).read(job.id)).toMatchObject({ id: job.id, progress: 5 });
  });
});
