import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import { startTestServer, tokenFor } from '../helpers/api.ts';
import { waitFor, waitForStatus } from '../helpers/db.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { markRunning, runTestWorker } from '../helpers/worker.ts';

/**
 * Seed 002 (Novus, FastAPI), as a client written from the seed alone: its `Job` model's
 * snake_case fields, statuses pending / in_progress / completed / failed, "priority: higher =
 * processed first", the routes of its endpoint table, snake_case query parameters.
 */

const JOB_FIELDS = [
  'id',
  'job_type',
  'status',
  'entity_type',
  'entity_id',
  'payload',
  'result',
  'priority',
  'attempts',
  'max_attempts',
  'next_retry',
  'error_message',
  'error_context',
  'created_at',
  'updated_at',
  'started_at',
  'completed_at',
].sort();
const STATUSES = ['pending', 'in_progress', 'completed', 'failed'];
const REPORT = { reportType: 'quotes', format: 'csv' };
const LATER = () => new Date(Date.now() + 3_600_000);
const CRON_SECRET = 'novus-cron-secret-0123456789';

const bed = useApiTestbed();
let cronServer: JobdeckServer;
const tokens: Record<string, string> = {};

async function get(
  path: string,
  token: string | null,
  server = bed.server,
  method = 'GET',
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- bodies are checked field by field
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: response.status, body: await response.json() };
}

const owner = { ownerId: 'nora', orgId: 'novus' };

beforeAll(async () => {
  tokens['nora'] = await tokenFor('nora', 'novus');
  tokens['other'] = await tokenFor('otto', 'novus');
  tokens['admin'] = await tokenFor('root', 'novus', { role: 'admin' });
  cronServer = await startTestServer(bed.t, { cronSecret: CRON_SECRET });
});

describe('GET /api/v1/jobs/{job_id}', () => {
  it('answers the Job model’s fields, Novus statuses and higher-first priority', async () => {
    const { jobdeck, t } = bed;
    // jobdeck's "high" (-10) is Novus's 10: higher is processed first
    const pending = await jobdeck.enqueueJob('export_report', REPORT, {
      ...owner,
      priority: -10,
      runAt: LATER(),
    });
    const res = await get(`/api/v1/jobs/${pending.id}`, tokens['nora']!);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(JOB_FIELDS);
    expect(res.body).toMatchObject({
      id: pending.id,
      job_type: 'export_report',
      status: 'pending',
      priority: 10,
      attempts: 0,
      next_retry: null,
      error_message: null,
      started_at: null,
      completed_at: null,
    });

    const row = (await t.pool.query('select * from jobdeck.jobs where id = $1', [pending.id]))
      .rows[0];
    await markRunning(t, row, 'worker-novus');
    expect((await get(`/api/v1/jobs/${pending.id}`, tokens['nora']!)).body).toMatchObject({
      status: 'in_progress',
      started_at: expect.any(String),
    });
  });

  it('answers completed, and failed (with error_message) for a cancelled job', async () => {
    const { jobdeck, t, tasks } = bed;
    const done = await jobdeck.enqueueJob('export_report', REPORT, owner);
    const worker = await runTestWorker(t, tasks);
    await waitForStatus(jobdeck, done.id, 'succeeded').finally(() => worker.stop());
    const completed = await get(`/api/v1/jobs/${done.id}`, tokens['nora']!);
    expect(completed.body).toMatchObject({ status: 'completed', completed_at: expect.any(String) });
    expect(completed.body.result).toMatchObject({ downloadUrl: expect.any(String) });

    const cancelled = await jobdeck.enqueueJob('export_report', REPORT, {
      ...owner,
      runAt: LATER(),
    });
    await jobdeck.cancelJob(cancelled.id);
    expect((await get(`/api/v1/jobs/${cancelled.id}`, tokens['nora']!)).body).toMatchObject({
      status: 'failed',
      error_message: expect.stringMatching(/cancel/),
    });
  });

  it('is the user’s own job or their admin’s: 404 to others, 401 without a token', async () => {
    const job = await bed.jobdeck.enqueueJob('export_report', REPORT, {
      ...owner,
      runAt: LATER(),
    });
    expect((await get(`/api/v1/jobs/${job.id}`, tokens['admin']!)).status).toBe(200);
    expect(await get(`/api/v1/jobs/${job.id}`, tokens['other']!)).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
    expect((await get(`/api/v1/jobs/${job.id}`, null)).status).toBe(401);
    expect((await get('/api/v1/jobs/not-a-uuid', tokens['nora']!)).status).toBe(400);
  });
});

describe('GET /api/v1/admin/jobs', () => {
  it('pages with page/page_size or limit/offset and filters by status and job_type', async () => {
    const { jobdeck } = bed;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.unshift(
        (
          await jobdeck.enqueueJob(
            'import_file',
            { filename: `${i}.csv` },
            {
              ownerId: 'paula',
              orgId: 'pager',
              runAt: LATER(),
            },
          )
        ).id,
      );
    const admin = await tokenFor('root', 'pager', { role: 'admin' });
    const page = await get('/api/v1/admin/jobs?page=2&page_size=2', admin);
    expect(page.status).toBe(200);
    expect(Object.keys(page.body).sort()).toEqual(
      ['jobs', 'limit', 'offset', 'page', 'page_size', 'total', 'total_pages'].sort(),
    );
    expect(page.body).toMatchObject({
      total: 3,
      page: 2,
      page_size: 2,
      total_pages: 2,
      limit: 2,
      offset: 2,
    });
    expect(page.body.jobs.map((j: { id: string }) => j.id)).toEqual([ids[2]]);
    expect(Object.keys(page.body.jobs[0]).sort()).toEqual(JOB_FIELDS);

    const window = await get('/api/v1/admin/jobs?limit=2&offset=1', admin);
    expect(window.body).toMatchObject({ total: 3, limit: 2, offset: 1 });
    expect(window.body.jobs.map((j: { id: string }) => j.id)).toEqual([ids[1], ids[2]]);

    const pending = await get('/api/v1/admin/jobs?status=pending&job_type=import_file', admin);
    expect(pending.body.total).toBe(3);
    expect((await get('/api/v1/admin/jobs?status=completed', admin)).body.total).toBe(0);
    expect((await get('/api/v1/admin/jobs?job_type=export_report', admin)).body.total).toBe(0);
  });

  it('refuses camelCase, jobdeck’s statuses and mixed paging, naming the problem', async () => {
    const admin = tokens['admin']!;
    expect(await get('/api/v1/admin/jobs?pageSize=5', admin)).toEqual({
      status: 400,
      body: { error: 'invalid_request', message: expect.stringMatching(/pageSize/) },
    });
    expect((await get('/api/v1/admin/jobs?status=queued', admin)).body.message).toMatch(
      /pending, in_progress, completed, failed/,
    );
    expect((await get('/api/v1/admin/jobs?page=1&limit=5', admin)).body.message).toMatch(
      /not both/,
    );
    expect((await get('/api/v1/admin/jobs?page_size=101', admin)).body.message).toMatch(
      /page_size must be at most 100/,
    );
  });

  it('is for admins: 403 to a user', async () => {
    expect(await get('/api/v1/admin/jobs', tokens['nora']!)).toMatchObject({
      status: 403,
      body: { error: 'forbidden' },
    });
  });
});

describe('GET /api/v1/admin/jobs/stats', () => {
  it('counts the organisation’s jobs by Novus status and by type', async () => {
    await bed.jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'sam',
      orgId: 'statsorg',
      runAt: LATER(),
    });
    const admin = await tokenFor('root', 'statsorg', { role: 'admin' });
    const stats = await get('/api/v1/admin/jobs/stats', admin);
    expect(stats).toEqual({
      status: 200,
      body: {
        total: 1,
        by_status: { pending: 1, in_progress: 0, completed: 0, failed: 0 },
        by_type: { export_report: { pending: 1, in_progress: 0, completed: 0, failed: 0 } },
      },
    });
    const none = await get('/api/v1/admin/jobs/stats?job_type=import_file', admin);
    expect(none.body.total).toBe(0);
    expect((await get('/api/v1/admin/jobs/stats?type=x', admin)).status).toBe(400);
    expect((await get('/api/v1/admin/jobs/stats', tokens['nora']!)).status).toBe(403);
  });
});

describe('POST /api/v1/admin/jobs/{job_id}/retry and DELETE /api/v1/admin/jobs/{job_id}', () => {
  it('cancels a pending job and retries a failed one; refuses the others with 409', async () => {
    const admin = tokens['admin']!;
    const job = await bed.jobdeck.enqueueJob('export_report', REPORT, {
      ...owner,
      runAt: LATER(),
    });
    const retryPending = await get(`/api/v1/admin/jobs/${job.id}/retry`, admin, bed.server, 'POST');
    expect(retryPending).toMatchObject({
      status: 409,
      body: { error: 'invalid_state', message: expect.stringMatching(/is pending; only failed/) },
    });
    const cancelled = await get(`/api/v1/admin/jobs/${job.id}`, admin, bed.server, 'DELETE');
    expect(cancelled).toMatchObject({ status: 200, body: { id: job.id, status: 'failed' } });
    expect(Object.keys(cancelled.body).sort()).toEqual(JOB_FIELDS);
    const again = await get(`/api/v1/admin/jobs/${job.id}`, admin, bed.server, 'DELETE');
    expect(again).toMatchObject({ status: 409, body: { error: 'invalid_state' } });
    const retried = await get(`/api/v1/admin/jobs/${job.id}/retry`, admin, bed.server, 'POST');
    expect(retried).toMatchObject({ status: 200, body: { id: job.id, status: 'pending' } });
    expect(STATUSES).toContain(retried.body.status);
  });
});

describe('GET /api/v1/cron/jobs (cron-protected)', () => {
  it('answers 404 naming JOBDECK_CRON_SECRET while it is unset', async () => {
    expect(await get('/api/v1/cron/jobs', CRON_SECRET)).toEqual({
      status: 404,
      body: { error: 'not_found', message: expect.stringMatching(/JOBDECK_CRON_SECRET/) },
    });
  });

  it('refuses a missing or wrong secret, and a user’s token, with 401', async () => {
    for (const token of [null, 'wrong-secret-0123456789', tokens['admin']!])
      expect(await get('/api/v1/cron/jobs', token, cronServer)).toEqual({
        status: 401,
        body: { error: 'unauthorized', message: expect.stringMatching(/JOBDECK_CRON_SECRET/) },
      });
  });

  it('reports whether the queue is processed and the jobs by Novus status', async () => {
    const idle = await get('/api/v1/cron/jobs', CRON_SECRET, cronServer);
    expect(idle.status).toBe(200);
    expect(Object.keys(idle.body).sort()).toEqual(['jobs', 'message', 'processing', 'workers']);
    expect(Object.keys(idle.body.jobs).sort()).toEqual([...STATUSES].sort());
    expect(idle.body).toMatchObject({ processing: false, workers: 0 });
    const worker = await runTestWorker(bed.t, bed.tasks);
    try {
      const busy = await waitFor(async () => {
        const res = await get('/api/v1/cron/jobs', CRON_SECRET, cronServer);
        return res.body.processing ? res : null;
      });
      expect(busy.body.workers).toBeGreaterThanOrEqual(1);
    } finally {
      await worker.stop();
    }
  });

  it('takes its secret from JOBDECK_CRON_SECRET, refusing a short one by name', () => {
    expect(loadConfig({ JOBDECK_CRON_SECRET: CRON_SECRET }).cronSecret).toBe(CRON_SECRET);
    expect(() => loadConfig({ JOBDECK_CRON_SECRET: 'short' })).toThrow(/JOBDECK_CRON_SECRET/);
  });
});
