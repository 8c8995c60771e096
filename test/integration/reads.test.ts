import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { InvalidArgumentError, JobNotFoundError } from '../../src/errors.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  ['alpha', defineTask({ run: () => null })],
  ['beta', defineTask({ run: () => null })],
]);

describe('reading jobs', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, tasks);
    jobdeck = createJobdeck({ pool: t.pool });
    // 25 jobs in one statement share created_at (one transaction): the id breaks the tie.
    await jobdeck.enqueueJobs(
      Array.from({ length: 25 }, (_, i) => ({
        type: i % 2 ? 'alpha' : 'beta',
        ownerId: i % 5 === 0 ? 'u1' : 'u2',
      })),
    );
    await t.pool.query(
      `update jobdeck.jobs set status = 'succeeded', finished_at = now() where id in (select id from jobdeck.jobs order by id limit 10)`,
    );
  });
  afterAll(async () => {
    await jobdeck.close();
    await t.drop();
  });

  it('pages through every job once, newest first, with a keyset cursor', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await jobdeck.listJobs({ limit: 7, ...(cursor ? { cursor } : {}) });
      seen.push(...page.jobs.map((j) => j.id));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(4);
    expect(new Set(seen).size).toBe(25);
  });

  it('filters by status, type, owner and time', async () => {
    expect((await jobdeck.listJobs({ status: 'succeeded' })).jobs).toHaveLength(10);
    expect((await jobdeck.listJobs({ status: ['queued', 'succeeded'] })).jobs).toHaveLength(25);
    const alpha = (await jobdeck.listJobs({ type: 'alpha', limit: 100 })).jobs;
    expect(alpha.length).toBe(12);
    expect(alpha.every((j) => j.type === 'alpha')).toBe(true);
    expect((await jobdeck.listJobs({ owner: 'u1' })).jobs).toHaveLength(5);
    expect(
      (await jobdeck.listJobs({ createdAfter: new Date(Date.now() + 60_000) })).jobs,
    ).toHaveLength(0);
    expect(
      (await jobdeck.listJobs({ createdBefore: new Date(Date.now() + 60_000) })).jobs,
    ).toHaveLength(25);
  });

  it('lists only unfinished jobs as active', async () => {
    const active = await jobdeck.activeJobs();
    expect(active).toHaveLength(15);
    expect(active.every((j) => j.status === 'queued')).toBe(true);
    expect(await jobdeck.activeJobs({ owner: 'u1' })).toEqual(
      expect.arrayContaining([expect.objectContaining({ owner_id: 'u1' })]),
    );
  });

  it('rejects bad filters and unknown ids clearly', async () => {
    await expect(jobdeck.listJobs({ limit: 0 })).rejects.toThrow(InvalidArgumentError);
    await expect(jobdeck.listJobs({ limit: 5000 })).rejects.toThrow(
      /limit must be a whole number from 1 to 1000/,
    );
    await expect(jobdeck.listJobs({ status: 'done' as never })).rejects.toThrow(
      /status must be one of/,
    );
    await expect(jobdeck.listJobs({ cursor: 'garbage' })).rejects.toThrow(
      'cursor is not one this API returned',
    );
    await expect(jobdeck.listJobs({ createdAfter: 'yesterday' })).rejects.toThrow(
      /createdAfter must be a valid date/,
    );
    await expect(jobdeck.getJob('not-a-uuid')).rejects.toThrow(JobNotFoundError);
    await expect(jobdeck.getJob('00000000-0000-4000-8000-000000000000')).rejects.toThrow(
      'job 00000000-0000-4000-8000-000000000000 not found',
    );
  });
});
