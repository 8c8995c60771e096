import type { AnyTaskDefinition } from '../../src/jobs/task.ts';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { defineTask } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { loadJobChannels } from '../../src/live/channels.ts';
import { PgListener } from '../../src/live/listener.ts';
import {
  InvalidArgumentError,
  InvalidPayloadError,
  PayloadTooLargeError,
  UnknownJobTypeError,
} from '../../src/errors.ts';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  [
    'import_file',
    defineTask({
      maxPayloadBytes: 2048,
      payload: z.object({
        filename: z.string().min(1),
        rows: z.number().int().min(1).optional(),
        mode: z.enum(['append', 'replace']).optional(),
        tags: z.array(z.string()).max(3).optional(),
        note: z.string().nullable().optional(),
      }),
      run: () => null,
    }),
  ],
  ['anything', defineTask({ run: () => null })],
]);

describe('enqueue', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, tasks);
    jobdeck = createJobdeck({ pool: t.pool });
  });
  afterAll(async () => {
    await jobdeck.close();
    await t.drop();
  });

  async function counts() {
    const { rows } = await t.pool.query<{ jobs: number; gw: number }>(
      `select (select count(*)::int from jobdeck.jobs) as jobs, (select count(*)::int from graphile_worker.jobs) as gw`,
    );
    return rows[0]!;
  }

  it('adds the tracked row and the Graphile Worker job together', async () => {
    const before = await counts();
    const job = await jobdeck.enqueueJob(
      'import_file',
      { filename: 'a.csv' },
      {
        priority: 5,
        maxAttempts: 7,
        queue: 'imports',
        ownerId: 'u1',
        orgId: 'o1',
        related: { type: 'dataset', id: '42' },
        metadata: { source: 'test' },
      },
    );
    expect(job).toMatchObject({
      status: 'queued',
      priority: 5,
      max_attempts: 7,
      queue: 'imports',
      owner_id: 'u1',
      org_id: 'o1',
      related_type: 'dataset',
      related_id: '42',
      metadata: { source: 'test' },
      payload: { filename: 'a.csv' },
    });
    const { rows } = await t.pool.query(
      `select task_identifier, priority, max_attempts, queue_name from graphile_worker.jobs where id = $1`,
      [job.gw_job_id],
    );
    // jobdeck counts attempts itself; Worker's own budget only covers outcomes it could not write.
    expect(rows[0]).toEqual({
      task_identifier: 'import_file',
      priority: 5,
      max_attempts: 25,
      queue_name: 'imports',
    });
    expect(await counts()).toEqual({ jobs: before.jobs + 1, gw: before.gw + 1 });
  });

  it('leaves neither row when the caller rolls back its pg transaction', async () => {
    const before = await counts();
    const client = await t.pool.connect();
    try {
      await client.query('begin');
      const job = await jobdeck.enqueueJob('import_file', { filename: 'b.csv' }, { tx: client });
      const inside = await client.query(
        'select count(*)::int as n from jobdeck.jobs where id = $1',
        [job.id],
      );
      expect(inside.rows[0].n).toBe(1);
      await client.query('rollback');
    } finally {
      client.release();
    }
    expect(await counts()).toEqual(before);
  });

  it('joins a Kysely transaction: commit keeps the job, a throw removes it', async () => {
    const before = await counts();
    await expect(
      t.db.transaction().execute(async (trx) => {
        await jobdeck.enqueueJob('import_file', { filename: 'c.csv' }, { tx: trx });
        throw new Error('app failure after enqueue');
      }),
    ).rejects.toThrow('app failure after enqueue');
    expect(await counts()).toEqual(before);

    const job = await t.db
      .transaction()
      .execute((trx) => jobdeck.enqueueJob('import_file', { filename: 'd.csv' }, { tx: trx }));
    expect((await jobdeck.getJob(job.id)).status).toBe('queued');
  });

  it('enqueues many jobs at once, all or none', async () => {
    const jobs = await jobdeck.enqueueJobs([
      { type: 'import_file', payload: { filename: 'e1.csv' }, priority: 1 },
      { type: 'anything', payload: [1, 2, 3], ownerId: 'u2' },
    ]);
    expect(jobs.map((j) => [j.type, j.priority, j.owner_id])).toEqual([
      ['import_file', 1, null],
      ['anything', 0, 'u2'],
    ]);
    const before = await counts();
    const error = await jobdeck
      .enqueueJobs([
        { type: 'import_file', payload: { filename: 'ok.csv' } },
        { type: 'import_file', payload: { filename: '' } },
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidPayloadError);
    expect((error as Error).message).toBe(
      'jobs[1]: invalid payload for job type "import_file": payload.filename: must be at least 1 characters',
    );
    expect(await counts()).toEqual(before);
  });

  it('dedupes on key while the keyed job is unfinished', async () => {
    const first = await jobdeck.enqueueJob('anything', {}, { key: 'nightly-report' });
    const again = await jobdeck.enqueueJob('anything', { other: true }, { key: 'nightly-report' });
    expect(again.id).toBe(first.id);
    await t.pool.query(
      `update jobdeck.jobs set status = 'succeeded', finished_at = now() where id = $1`,
      [first.id],
    );
    const fresh = await jobdeck.enqueueJob('anything', {}, { key: 'nightly-report' });
    expect(fresh.id).not.toBe(first.id);
  });

  describe('rejects bad input with a clear error and writes nothing', () => {
    const cases: [string, () => Promise<unknown>, unknown, string | RegExp][] = [
      [
        'an unknown type',
        () => jobdeck.enqueueJob('nope', {}),
        UnknownJobTypeError,
        /^unknown job type "nope" \(known types: anything, import_file\)$/,
      ],
      [
        'an empty type',
        () => jobdeck.enqueueJob('', {}),
        UnknownJobTypeError,
        'job type is required',
      ],
      [
        'a missing field',
        () => jobdeck.enqueueJob('import_file', {}),
        InvalidPayloadError,
        'invalid payload for job type "import_file": payload.filename: is required',
      ],
      [
        'a wrong type',
        () => jobdeck.enqueueJob('import_file', { filename: 'x', rows: 1.5 }),
        InvalidPayloadError,
        'payload.rows: expected integer, got a fraction',
      ],
      [
        'a value out of enum',
        () => jobdeck.enqueueJob('import_file', { filename: 'x', mode: 'merge' }),
        InvalidPayloadError,
        'payload.mode: must be one of "append", "replace"',
      ],
      [
        'too many items',
        () => jobdeck.enqueueJob('import_file', { filename: 'x', tags: ['a', 'b', 'c', 'd'] }),
        InvalidPayloadError,
        'payload.tags: must have at most 3 items',
      ],
      [
        'a non-object payload',
        () => jobdeck.enqueueJob('import_file', 'x.csv'),
        InvalidPayloadError,
        'payload: expected object, got string',
      ],
      [
        'a payload over the limit',
        () => jobdeck.enqueueJob('import_file', { filename: 'x'.repeat(3000) }),
        PayloadTooLargeError,
        /over the 2048 byte limit/,
      ],
      [
        'a fractional priority',
        () => jobdeck.enqueueJob('anything', {}, { priority: 1.5 }),
        InvalidArgumentError,
        'priority must be a whole number, got 1.5',
      ],
      [
        'a priority out of range',
        () => jobdeck.enqueueJob('anything', {}, { priority: 99999 }),
        InvalidArgumentError,
        /priority must be a whole number from -32768 to 32767/,
      ],
      [
        'zero attempts',
        () => jobdeck.enqueueJob('anything', {}, { maxAttempts: 0 }),
        InvalidArgumentError,
        /max_attempts must be from 1 to 32767/,
      ],
      [
        'a bad runAt',
        () => jobdeck.enqueueJob('anything', {}, { runAt: 'tomorrow-ish' }),
        InvalidArgumentError,
        /runAt must be a valid date/,
      ],
      [
        'a circular payload',
        () => {
          const loop: Record<string, unknown> = {};
          loop.self = loop;
          return jobdeck.enqueueJob('anything', loop);
        },
        InvalidPayloadError,
        /not JSON-serialisable/,
      ],
      [
        'a bulk spec that is not an array',
        () => jobdeck.enqueueJobs('nope' as never),
        InvalidArgumentError,
        /expects an array/,
      ],
    ];
    it.each(cases)('%s', async (_name, call, type, message) => {
      const before = await counts();
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(type);
      if (typeof message === 'string') expect((error as Error).message).toContain(message);
      else expect((error as Error).message).toMatch(message);
      expect(await counts()).toEqual(before);
    });
  });

  it('works from SQL and from a trigger (the documented example)', async () => {
    const example = await readFile(
      new URL('../../docs/examples/enqueue-from-trigger.sql', import.meta.url),
      'utf8',
    );
    await t.pool.query(example);
    await t.pool.query(
      `insert into uploads (filename, uploaded_by, org_id) values ('sales.csv', 'u7', 'o7')`,
    );
    const job = await t.db
      .selectFrom('jobdeck.jobs')
      .selectAll()
      .where('owner_id', '=', 'u7')
      .executeTakeFirstOrThrow();
    expect(job).toMatchObject({
      type: 'import_file',
      status: 'queued',
      payload: { filename: 'sales.csv' },
      org_id: 'o7',
      related_type: 'upload',
    });

    // A rejected enqueue aborts the insert that fired it: no upload row, no job.
    const before = await counts();
    const error = await t.pool
      .query(`insert into uploads (filename, uploaded_by) values ('', 'u8')`)
      .catch((e: { code: string; message: string }) => e);
    expect(error).toMatchObject({
      code: 'JD002',
      message:
        'invalid payload for job type "import_file": payload.filename: must be at least 1 characters',
    });
    const uploads = await t.pool.query(
      `select count(*)::int as n from uploads where uploaded_by = 'u8'`,
    );
    expect(uploads.rows[0].n).toBe(0);
    expect(await counts()).toEqual(before);

    // And a rolled-back app transaction takes its trigger's job with it.
    const client = await t.pool.connect();
    await client.query('begin');
    await client.query(`insert into uploads (filename, uploaded_by) values ('gone.csv', 'u9')`);
    await client.query('rollback');
    client.release();
    expect(await counts()).toEqual(before);
  });

  it('names channels the same way in SQL and TypeScript', async () => {
    const channels = await loadJobChannels(t.pool);
    const listener = new PgListener(t.url);
    try {
      const cases = [
        { ownerId: 'u1', orgId: 'o1' },
        { ownerId: 'x'.repeat(60), orgId: 'y'.repeat(200) },
        { ownerId: 'ünïcødé-owner-with-a-fairly-long-name-0123456789', orgId: 'ørg:with:colons' },
      ];
      for (const { ownerId, orgId } of cases) {
        const heard: string[] = [];
        const names = [channels.owner(orgId, ownerId), channels.org(orgId)];
        for (const name of names) {
          expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
          await listener.subscribe(name, (_payload, channel) => heard.push(channel));
        }
        const job = await jobdeck.enqueueJob(
          'import_file',
          { filename: 'a.csv' },
          { ownerId, orgId },
        );
        const jobName = channels.job(job.id);
        expect(Buffer.byteLength(jobName)).toBeLessThanOrEqual(63);
        await listener.subscribe(jobName, (_payload, channel) => heard.push(channel));
        await jobdeck.cancelJob(job.id);
        await waitFor(() => names.concat(jobName).every((name) => heard.includes(name)), {
          what: 'a notification on each channel TypeScript names',
        });
      }
    } finally {
      await listener.close();
    }
  });
});
