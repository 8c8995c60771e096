import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseCrontab } from 'graphile-worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import { nextCronRun } from '../../src/jobs/operations.ts';
import { loadTasks } from '../../src/jobs/registry.ts';
import { gql, startTestServer, stopServers, tokenFor } from '../helpers/api.ts';
import { ROOT } from '../helpers/cli.ts';
import { createTestDatabase, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { registerTasks, runTestWorker } from '../helpers/worker.ts';

/**
 * What the dashboard's views read and do besides jobs (issue 22): `queues`, `workers` and
 * `cronSchedules` for operators only, `findJobs` by id or key, and `deleteJob` of a finished job.
 */
describe('the dashboard’s GraphQL fields', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;
  let server: JobdeckServer;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, await loadTasks(path.join(ROOT, 'tasks')));
    jobdeck = createJobdeck({ pool: t.pool });
    const crontabFile = path.join(os.tmpdir(), `jobdeck-crontab-${process.pid}`);
    await writeFile(crontabFile, '# nightly\n30 2 * * * prune_jobs ?fill=1d\n');
    server = await startTestServer(t, { operatorOrgs: ['ops'], crontabFile });
    tokens['operator'] = await tokenFor('olga', 'ops', { role: 'admin' });
    tokens['acmeAdmin'] = await tokenFor('root', 'acme', { role: 'admin' });
    tokens['alice'] = await tokenFor('alice', 'acme');
    tokens['bob'] = await tokenFor('bob', 'acme');
  });
  afterAll(async () => {
    await stopServers();
    await jobdeck.close();
    await t.drop();
  });

  const OPERATOR_READS = `{ queues { name waiting running paused maxRunning finishedPerMinute }
    workers { id pid heartbeatAt runningJobIds } cronSchedules { task pattern nextRunAt } }`;

  it('shows operators the queues, the worker processes and the cron schedules', async () => {
    const worker = await runTestWorker(t, await loadTasks(path.join(ROOT, 'tasks')));
    try {
      await jobdeck.enqueueJob(
        'export_report',
        { reportType: 'quotes', format: 'csv' },
        {
          ownerId: 'alice',
          orgId: 'acme',
          queue: 'reports',
          runAt: new Date(Date.now() + 3600_000),
        },
      );
      await t.pool.query('select jobdeck.set_queue_concurrency($1, $2)', ['reports', 2]);
      const answer = await gql<{
        queues: {
          name: string;
          waiting: number;
          maxRunning: number | null;
          finishedPerMinute: number[];
        }[];
        workers: { id: string; pid: number }[];
        cronSchedules: { task: string; pattern: string; nextRunAt: string }[];
      }>(server, OPERATOR_READS, { token: tokens['operator'] });
      expect(answer.errors).toBeUndefined();
      const reports = answer.data!.queues.find((q) => q.name === 'reports');
      expect(reports).toMatchObject({ waiting: 1, maxRunning: 2 });
      expect(reports!.finishedPerMinute).toHaveLength(60);
      expect(answer.data!.workers.map((w) => w.id)).toContain(worker.id);
      expect(answer.data!.cronSchedules).toEqual([
        {
          task: 'prune_jobs',
          pattern: '30 2 * * *',
          nextRunAt: expect.stringMatching(/T02:30:00/),
        },
      ]);
    } finally {
      await worker.stop();
    }
  });

  it('refuses them to anyone but an operator', async () => {
    for (const who of ['acmeAdmin', 'alice']) {
      const answer = await gql(server, '{ workers { id } }', { token: tokens[who] });
      expect(answer.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
    }
  });

  it('finds a job by its id or the key its owner gave, and nobody else’s', async () => {
    const enqueue = await gql<{ enqueueJob: { job: { id: string } } }>(
      server,
      'mutation { enqueueJob(input: { type: "export_report", key: "nightly-7", payload: { reportType: "quotes", format: "csv" }, runAt: "2099-01-01T00:00:00Z" }) { job { id } } }',
      { token: tokens['alice'] },
    );
    expect(enqueue.errors).toBeUndefined();
    const id = enqueue.data!.enqueueJob.job.id;
    const find = (term: string, token: string) =>
      gql<{ findJobs: { nodes: { id: string }[] } }>(
        server,
        'query($term: String!) { findJobs(term: $term) { nodes { id } } }',
        { token, variables: { term } },
      ).then((a) => a.data!.findJobs.nodes.map((n) => n.id));
    expect(await find('nightly-7', tokens['alice']!)).toEqual([id]);
    expect(await find(` ${id} `, tokens['alice']!)).toEqual([id]);
    expect(await find('nightly-7', tokens['acmeAdmin']!)).toEqual([id]);
    expect(await find('nightly-7', tokens['bob']!)).toEqual([]);
    expect(await find(id, tokens['bob']!)).toEqual([]);
  });

  it('deletes a finished job for its owner, and refuses an unfinished one', async () => {
    const job = await jobdeck.enqueueJob(
      'export_report',
      { reportType: 'quotes', format: 'csv' },
      { ownerId: 'alice', orgId: 'acme', runAt: new Date(Date.now() + 3600_000) },
    );
    const remove = (token: string) =>
      gql<{ deleteJob: { deletedJobId: string } }>(
        server,
        'mutation($id: UUID!) { deleteJob(input: { id: $id }) { deletedJobId } }',
        { token, variables: { id: job.id } },
      );
    expect((await remove(tokens['alice']!)).errors?.[0]?.message).toMatch(/only a finished job/);
    await jobdeck.cancelJob(job.id);
    await waitForStatus(jobdeck, job.id, 'cancelled');
    expect((await remove(tokens['bob']!)).errors?.[0]?.message).toMatch(/not found/);
    expect((await remove(tokens['alice']!)).data?.deleteJob.deletedJobId).toBe(job.id);
    const { rowCount } = await t.pool.query('select 1 from jobdeck.jobs where id = $1', [job.id]);
    expect(rowCount).toBe(0);
  });
});

describe('nextCronRun()', () => {
  it('finds the next matching minute in UTC', () => {
    const [item] = parseCrontab('0 9 * * 1 prune_jobs');
    // Sunday 2026-12-06 10:00 UTC → Monday 09:00
    expect(nextCronRun(item!, new Date('2026-12-06T10:00:30Z'))?.toISOString()).toBe(
      '2026-12-07T09:00:00.000Z',
    );
  });
});
