import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Jobdeck } from '../../src/client.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { randomUUID } from 'node:crypto';
import { DownloadLinks } from '../../src/auth/download-links.ts';
import type { Identity } from '../../src/auth/identity.ts';
import { TEST_JWT_SECRET, gql, startTestServer, tokenFor } from '../helpers/api.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { runTestWorker } from '../helpers/worker.ts';

let t: TestDatabase;
let jobdeck: Jobdeck;
let server: JobdeckServer;
let tasks: TaskRegistry;
const tokens: Record<string, string> = {};

const REPORT = { reportType: 'quotes', format: 'csv' };
const LATER = () => new Date(Date.now() + 3_600_000);

/** Seed 004's job fields, exactly as written there. */
const C4_JOB_KEYS = [
  'id',
  'organizationId',
  'userId',
  'jobType',
  'status',
  'priority',
  'retryCount',
  'maxRetries',
  'payload',
  'result',
  'errorMessage',
  'progress',
  'totalSteps',
  'currentStep',
  'startedAt',
  'completedAt',
  'scheduledAt',
  'createdAt',
  'updatedAt',
].sort();

async function call(
  method: string,
  url: string,
  options: { token?: string | null; body?: unknown; rawBody?: string } = {},
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by shape in each test
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? tokens['alice'] : options.token;
  if (token) headers['authorization'] = `Bearer ${token}`;
  let body: string | undefined;
  if (options.rawBody !== undefined || options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = options.rawBody ?? JSON.stringify(options.body);
  }
  const response = await fetch(`${server.url}${url}`, { method, headers, body });
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : null;
  recorded.push({ method, url, status: response.status, body: parsed });
  return { status: response.status, body: parsed };
}

/** Every response the tests below received, checked against /openapi.json at the end. */
const recorded: { method: string; url: string; status: number; body: unknown }[] = [];

const countJobs = async () =>
  (await t.pool.query<{ n: number }>('select count(*)::int as n from jobdeck.jobs')).rows[0]!.n;

const bed = useApiTestbed();

beforeAll(async () => {
  ({ t, jobdeck, server, tasks } = bed);
  tokens['alice'] = await tokenFor('alice', 'acme');
  tokens['bob'] = await tokenFor('bob', 'acme');
  tokens['admin'] = await tokenFor('root', 'acme', { role: 'admin' });
});

describe('GET /api/v2/jobs/active (seeds 000/001)', () => {
  it('answers [] rather than 404 when the caller has no jobs', async () => {
    const res = await call('GET', '/api/v2/jobs/active', {
      token: await tokenFor('nobody', 'acme'),
    });
    expect(res).toEqual({ status: 200, body: [] });
  });

  it('says so when the caller is anonymous: 401 here, a header beside GraphQL’s empty list', async () => {
    const rest = await fetch(`${server.url}/api/v2/jobs/active`);
    expect(rest.status).toBe(401);
    const graphql = (token?: string) =>
      fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query: '{ activeJobs { nodes { id } } }' }),
      });
    const anonymous = await graphql();
    expect(anonymous.status).toBe(200);
    expect(await anonymous.json()).toEqual({ data: { activeJobs: { nodes: [] } } });
    expect(anonymous.headers.get('x-jobdeck-caller')).toBe(
      'anonymous: send Authorization: Bearer <token> to see your jobs',
    );
    expect((await graphql(tokens['alice'])).headers.get('x-jobdeck-caller')).toBeNull();
  });

  it('lists the caller’s jobs in the widget’s shape, mapping states onto running/completed/failed', async () => {
    const owner = await tokenFor('wanda', 'acme');
    const queued = await jobdeck.enqueueJob(
      'import_file',
      { filename: 'people.csv' },
      { ownerId: 'wanda', orgId: 'acme', runAt: LATER() },
    );
    const cancelled = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'wanda',
      orgId: 'acme',
      runAt: LATER(),
    });
    await jobdeck.cancelJob(cancelled.id);
    const done = await jobdeck.enqueueJob(
      'import_file',
      { filename: 'small.csv', rows: 5, stepDelayMs: 0 },
      { ownerId: 'wanda', orgId: 'acme' },
    );
    await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'other',
      orgId: 'acme',
      runAt: LATER(),
    });
    const worker = await runTestWorker(t, tasks);
    await waitForStatus(jobdeck, done.id, 'succeeded').finally(() => worker.stop());

    const res = await call('GET', '/api/v2/jobs/active', { token: owner });
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      {
        id: done.id,
        type: 'import',
        status: 'completed',
        progress: 100,
        filename: 'small.csv',
      },
      { id: cancelled.id, type: 'export', status: 'failed', progress: 0 },
      {
        id: queued.id,
        type: 'import',
        status: 'running',
        progress: 0,
        filename: 'people.csv',
      },
    ]);

    // completed jobs drop out after the configured time (0 s here)
    const strict = await startTestServer(t, { widgetCompletedTtlSeconds: 0 });
    const later = await fetch(`${strict.url}/api/v2/jobs/active`, {
      headers: { authorization: `Bearer ${owner}` },
    });
    const ids = ((await later.json()) as { id: string }[]).map((job) => job.id);
    expect(ids).toEqual([cancelled.id, queued.id]);
    await strict.close();
  });

  it('needs a token: 401 with a reason, not 404', async () => {
    const res = await call('GET', '/api/v2/jobs/active', { token: null });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'unauthorized', message: expect.stringMatching(/Bearer/) });
    const bad = await call('GET', '/api/v2/jobs/active', { token: 'nonsense' });
    expect(bad).toMatchObject({
      status: 401,
      body: { error: 'unauthorized', message: expect.stringMatching(/not a JWT/) },
    });
  });
});

describe('the C4 contract (seed 004)', () => {
  it('replays the creation and polling transcript: create → queued → running → succeeded with a result', async () => {
    const created = await call('POST', '/v1/jobs', {
      body: {
        jobType: 'export_report',
        payload: {
          ...REPORT,
          filters: { dateFrom: '2024-01-01', dateTo: '2024-12-31' },
          stepDelayMs: 150,
        },
        priority: 5,
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      jobId: expect.any(String),
      message: 'Job created successfully',
    });
    const id = created.body.jobId as string;

    const queued = await call('GET', `/v1/jobs/${id}/status`);
    expect(queued.status).toBe(200);
    expect(Object.keys(queued.body).sort()).toEqual(['canCancel', 'canRetry', 'job', 'progress']);
    expect(Object.keys(queued.body.job).sort()).toEqual(C4_JOB_KEYS);
    expect(queued.body).toMatchObject({
      job: {
        id,
        status: 'queued',
        progress: 0,
        currentStep: 0,
        organizationId: 'acme',
        userId: 'alice',
        jobType: 'export_report',
        priority: 5,
      },
      progress: 0,
      canCancel: true,
      canRetry: false,
    });

    const worker = await runTestWorker(t, tasks);
    try {
      const running = await waitFor(async () => {
        const res = await call('GET', `/v1/jobs/${id}/status`);
        return res.body.job.status === 'running' && res.body.progress > 0 && res.body;
      });
      expect(running).toMatchObject({
        canCancel: true,
        canRetry: false,
        job: { startedAt: expect.any(String) },
      });
      await waitForStatus(jobdeck, id, 'succeeded');
    } finally {
      await worker.stop();
    }
    const succeeded = await call('GET', `/v1/jobs/${id}/status`);
    expect(succeeded.body).toMatchObject({
      job: {
        status: 'succeeded',
        progress: 100,
        currentStep: 6,
        completedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        result: { downloadUrl: expect.any(String), reportType: 'quotes', format: 'csv' },
      },
      progress: 100,
      canCancel: false,
      canRetry: false,
    });

    // the downloadUrl serves the file to those who may see the job, and to nobody else
    const url = succeeded.body.job.result.downloadUrl as string;
    const path = url.split('?')[0]!;
    const download = await fetch(`${server.url}${path}`, {
      headers: { authorization: `Bearer ${tokens['alice']}` },
    });
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toMatch(/text\/csv/);
    expect((await download.text()).split('\n')[0]).toMatch(/,/);
    recorded.push({ method: 'GET', url: path, status: 200, body: null });
    const stranger = await call('GET', path, { token: tokens['bob'] });
    expect(stranger).toMatchObject({ status: 404, body: { error: 'not_found' } });
    const traversal = await call('GET', '/api/v1/exports/..%2F..%2Fjwt-secret');
    expect(traversal.status).toBe(404);
  });

  describe('signed download links', () => {
    let id: string;
    let signed: URL;
    const links = new DownloadLinks(TEST_JWT_SECRET, 900);
    const alice: Identity = {
      userId: 'alice',
      orgId: 'acme',
      role: 'user',
      permissions: null,
      expiresAt: new Date(Date.now() + 3_600_000),
    };
    /** A plain link: no Authorization header, as a browser's `<a href>` fetches it. */
    const plain = (href: string) => call('GET', href, { token: null });
    const tampered = (change: Record<string, string>) => {
      const link = new URL(signed);
      for (const [key, value] of Object.entries(change)) link.searchParams.set(key, value);
      return `${link.pathname}${link.search}`;
    };

    beforeAll(async () => {
      const created = await call('POST', '/v1/jobs', {
        body: { jobType: 'export_report', payload: REPORT },
      });
      id = created.body.jobId as string;
      const worker = await runTestWorker(t, tasks);
      try {
        await waitForStatus(jobdeck, id, 'succeeded');
      } finally {
        await worker.stop();
      }
      const status = await call('GET', `/v1/jobs/${id}/status`);
      signed = new URL(status.body.job.result.downloadUrl as string, server.url);
    });

    it('are minted per caller, expire, and work without an Authorization header', async () => {
      expect(signed.pathname).toMatch(/^\/api\/v1\/exports\/quotes_[\w.-]+\.csv$/);
      expect(Object.fromEntries(signed.searchParams)).toEqual({
        job: id,
        user: 'alice',
        org: 'acme',
        role: 'user',
        expires: expect.stringMatching(/^\d+$/),
        sig: expect.stringMatching(/^[\w-]{43}$/),
      });
      const expires = Number(signed.searchParams.get('expires'));
      expect(expires * 1000 - Date.now()).toBeGreaterThan(890_000);
      expect(expires * 1000 - Date.now()).toBeLessThanOrEqual(900_000);
      // an admin reading the same job gets a link of their own
      const asAdmin = await call('GET', `/v1/jobs/${id}/status`, { token: tokens['admin'] });
      const adminLink = new URL(asAdmin.body.job.result.downloadUrl as string, server.url);
      expect(adminLink.searchParams.get('user')).toBe('root');
      expect(adminLink.searchParams.get('role')).toBe('admin');

      const response = await fetch(signed);
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('private, no-store');
      expect((await response.text()).split('\n')[0]).toMatch(/,/);
      recorded.push({ method: 'GET', url: signed.pathname, status: 200, body: null });
      // GraphQL too (the dashboard's link), minted for its caller
      const graphql = await gql<{ job: { result: { downloadUrl: string } } }>(
        server,
        'query($id: UUID!) { job(id: $id) { result } }',
        { variables: { id }, token: tokens['admin'] },
      );
      const viaGraphql = new URL(graphql.data!.job.result.downloadUrl, server.url);
      expect(viaGraphql.pathname).toBe(signed.pathname);
      expect(viaGraphql.searchParams.get('user')).toBe('root');
      expect((await fetch(viaGraphql)).status).toBe(200);
      // the other contracts hand out the same kind of link
      const novus = await call('GET', `/api/v1/jobs/${id}`);
      expect(
        (await fetch(new URL(novus.body.result.downloadUrl as string, server.url))).status,
      ).toBe(200);
    });

    it('refuses a tampered link with 403, whoever sends it', async () => {
      const changes: Record<string, string>[] = [
        { user: 'bob' },
        { org: 'globex' },
        { user: 'root', org: 'globex', role: 'admin' },
        { role: 'admin' },
        { expires: String(Number(signed.searchParams.get('expires')) + 3600) },
        { job: randomUUID() },
        { sig: 'A'.repeat(43) },
      ];
      for (const change of changes) {
        const refused = await plain(tampered(change));
        expect(refused, JSON.stringify(change)).toMatchObject({
          status: 403,
          body: { error: 'bad_signature', message: expect.stringMatching(/not valid/) },
        });
      }
      // the signature covers the file too
      const other = `/api/v1/exports/other.csv${signed.search}`;
      expect((await plain(other)).status).toBe(403);
      // another organisation's user changing the identity with their own token: still refused
      const globex = await tokenFor('alice', 'globex');
      const withToken = await call('GET', tampered({ org: 'globex' }), { token: globex });
      expect(withToken.status).toBe(403);
      // an incomplete link is a bad request, not a download
      const partial = new URL(signed);
      partial.searchParams.delete('expires');
      expect((await plain(`${partial.pathname}${partial.search}`)).status).toBe(400);
    });

    it('refuses an expired link with 410', async () => {
      const old = links.sign(signed.pathname, id, alice, Date.now() - 901_000) as string;
      const expired = await plain(old);
      expect(expired).toMatchObject({
        status: 410,
        body: { error: 'expired', message: expect.stringMatching(/expired at .*reload the job/) },
      });
    });

    it('reads the job as the identity in the link, so it only works while that identity may see it', async () => {
      // a validly signed link for bob (same organisation, not his job) gives him nothing
      const forBob = links.sign(signed.pathname, id, { ...alice, userId: 'bob' }) as string;
      expect(await plain(forBob)).toMatchObject({ status: 404, body: { error: 'not_found' } });
      // an admin of another organisation: nothing either
      const forGlobex = links.sign(signed.pathname, id, {
        ...alice,
        userId: 'root',
        orgId: 'globex',
        role: 'admin',
      }) as string;
      expect((await plain(forGlobex)).status).toBe(404);
      // once the job is gone (deleted, pruned), alice's own link stops working
      const own = `${signed.pathname}${signed.search}`;
      expect((await fetch(new URL(own, server.url))).status).toBe(200);
      await t.pool.query('delete from jobdeck.jobs where id = $1', [id]);
      expect(await plain(own)).toMatchObject({ status: 404, body: { error: 'not_found' } });
    });
  });

  it('fails an export whose dates are out of range at once, naming them, without a retry', async () => {
    // Found by the property-based task fuzz: the last date JavaScript has made the query step
    // throw a RangeError, a retryable failure, instead of the validate step refusing it.
    const created = await call('POST', '/v1/jobs', {
      body: {
        jobType: 'export_report',
        payload: {
          reportType: 'quotes',
          format: 'csv',
          filters: { dateFrom: '+275760-09-13', dateTo: '+275760-09-13' },
        },
      },
    });
    const id = created.body.jobId as string;
    const worker = await runTestWorker(t, tasks);
    try {
      const failed = await waitForStatus(jobdeck, id, 'failed');
      expect(failed.errors).toHaveLength(1);
      expect(failed.errors[0]).toMatchObject({
        name: 'PermanentJobError',
        permanent: true,
        message: expect.stringContaining(
          'filters.dateFrom/dateTo must be dates in the years 1000 to 9999',
        ),
      });
    } finally {
      await worker.stop();
    }
  });

  it('replays the failure and retry transcript', async () => {
    const created = await call('POST', '/v1/jobs', {
      body: { jobType: 'export_report', payload: { reportType: 'invalid_report', format: 'csv' } },
    });
    const id = created.body.jobId as string;
    const worker = await runTestWorker(t, tasks);
    try {
      await waitForStatus(jobdeck, id, 'failed');
      const failed = await call('GET', `/v1/jobs/${id}/status`);
      expect(failed.body).toMatchObject({
        job: {
          status: 'failed',
          progress: 20,
          errorMessage: expect.stringMatching(/invalid_report/),
          retryCount: 0,
        },
        progress: 20,
        canCancel: false,
        canRetry: true,
      });
      await worker.stop();
      const retried = await call('POST', `/v1/jobs/${id}/retry`);
      expect(retried).toEqual({
        status: 200,
        body: { message: 'Job retry initiated successfully' },
      });
      const again = await call('GET', `/v1/jobs/${id}/status`);
      expect(again.body).toMatchObject({
        job: { status: 'queued', progress: 0, currentStep: 0, retryCount: 1 },
        canCancel: true,
        canRetry: false,
      });
    } finally {
      await worker.stop();
    }
  });

  it('lists with page, pageSize, status and jobType, and cancels', async () => {
    const user = await tokenFor('lister', 'acme');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await call('POST', '/v1/jobs', {
        token: user,
        body: { jobType: 'export_report', payload: REPORT },
      });
      ids.push(res.body.jobId);
    }
    const cancelled = await call('POST', `/v1/jobs/${ids[0]}/cancel`, { token: user });
    expect(cancelled).toEqual({ status: 200, body: { message: 'Job cancelled successfully' } });
    const page = await call('GET', '/v1/jobs?page=2&pageSize=2&jobType=export_report', {
      token: user,
    });
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ total: 3, page: 2, pageSize: 2, totalPages: 2 });
    expect(page.body.jobs.map((job: { id: string }) => job.id)).toEqual([ids[0]]);
    expect(Object.keys(page.body.jobs[0]).sort()).toEqual(C4_JOB_KEYS);
    const byStatus = await call('GET', '/v1/jobs?status=cancelled', { token: user });
    expect(byStatus.body).toMatchObject({ total: 1, page: 1, pageSize: 25, totalPages: 1 });
    // One rule on every surface (docs/job-states.md): cancelling a cancelled job succeeds, as it
    // does through GraphQL and the CLI; retrying a queued one is refused.
    const again = await call('POST', `/v1/jobs/${ids[0]}/cancel`, { token: user });
    expect(again).toEqual({ status: 200, body: { message: 'Job cancelled successfully' } });
    const early = await call('POST', `/v1/jobs/${ids[1]}/retry`, { token: user });
    expect(early).toMatchObject({ status: 409, body: { error: 'invalid_state' } });
    expect(early.body.message).toMatch(/and cannot be retried: only failed or cancelled jobs can/);
  });
});

describe('bad input', () => {
  it('answers each client mistake with 4xx and {error, message}, writing nothing', async () => {
    const before = await countJobs();
    const cases: [string, string, Parameters<typeof call>[2], number, string, RegExp][] = [
      [
        'unknown type',
        '/v1/jobs',
        { body: { jobType: 'nope', payload: {} } },
        400,
        'unknown_job_type',
        /unknown job type "nope"/,
      ],
      [
        'bad payload',
        '/v1/jobs',
        { body: { jobType: 'export_report', payload: { reportType: 'quotes', format: 'pdf' } } },
        400,
        'invalid_payload',
        /format/,
      ],
      [
        'payload not an object',
        '/v1/jobs',
        { body: { jobType: 'export_report', payload: 'x' } },
        400,
        'invalid_request',
        /payload must be a JSON object/,
      ],
      [
        'no jobType',
        '/v1/jobs',
        { body: { payload: {} } },
        400,
        'invalid_request',
        /jobType is required/,
      ],
      [
        'priority as a word',
        '/v1/jobs',
        { body: { jobType: 'export_report', payload: REPORT, priority: 'high' } },
        400,
        'invalid_request',
        /priority/,
      ],
      [
        'unknown field',
        '/v1/jobs',
        { body: { jobType: 'export_report', payload: REPORT, ownerId: 'bob' } },
        400,
        'invalid_request',
        /ownerId/,
      ],
      [
        'priority out of range',
        '/v1/jobs',
        { body: { jobType: 'export_report', payload: REPORT, priority: 500 } },
        400,
        'invalid_argument',
        /priority must be from -20/,
      ],
      ['broken JSON', '/v1/jobs', { rawBody: '{"jobType": ' }, 400, 'bad_request', /JSON/],
      [
        'oversized body',
        '/v1/jobs',
        {
          body: {
            jobType: 'export_report',
            payload: { ...REPORT, x: 'y'.repeat(2 * 1024 * 1024) },
          },
        },
        413,
        'payload_too_large',
        /large/,
      ],
    ];
    for (const [what, url, options, status, error, message] of cases) {
      const res = await call('POST', url, options);
      expect(res.status, what).toBe(status);
      expect(res.body, what).toEqual({ error, message: expect.stringMatching(message) });
    }
    const gets: [string, number, string][] = [
      ['/v1/jobs?page=0', 400, 'invalid_request'],
      ['/v1/jobs?page=abc', 400, 'invalid_request'],
      ['/v1/jobs?pageSize=1000', 400, 'invalid_request'],
      ['/v1/jobs?status=done', 400, 'invalid_request'],
      ['/v1/jobs?sort=desc', 400, 'invalid_request'],
      ['/v1/jobs/not-a-uuid/status', 400, 'invalid_request'],
      ['/v1/jobs/00000000-0000-4000-8000-000000000000/status', 404, 'not_found'],
      ['/no/such/route', 404, 'not_found'],
    ];
    for (const [url, status, error] of gets) {
      const res = await call('GET', url);
      expect(res.status, url).toBe(status);
      expect(res.body, url).toEqual({ error, message: expect.any(String) });
    }
    const deep = await call('POST', '/v1/jobs', {
      rawBody: `{"jobType":"export_report","payload":${'{"a":'.repeat(5000)}{}${'}'.repeat(5000)}}`,
    });
    expect(deep).toEqual({
      status: 400,
      body: { error: 'invalid_request', message: expect.stringMatching(/nests objects or arrays/) },
    });
    const badUrl = await fetch(`${server.url}/v1/jobs/%ZZ/status`, {
      headers: { authorization: `Bearer ${tokens['alice']}` },
    });
    expect(badUrl.status).toBe(400);
    expect(await badUrl.json()).toEqual({ error: 'bad_request', message: expect.any(String) });
    expect(await countJobs()).toBe(before);
  });
});

describe('Novus routes (seed 002; seed 003: test/contracts/osint.test.ts)', () => {
  it('shows a job in snake_case, and the OSINT routes in their own contract', async () => {
    const job = await jobdeck.enqueueJob(
      'import_file',
      { filename: 'n.csv', rows: 5, stepDelayMs: 0 },
      { ownerId: 'alice', orgId: 'acme' },
    );
    const worker = await runTestWorker(t, tasks);
    await waitForStatus(jobdeck, job.id, 'succeeded').finally(() => worker.stop());
    // Novus's answer in its own words (test/contracts/novus.test.ts has the contract)
    const novus = await call('GET', `/api/v1/jobs/${job.id}`);
    expect(novus.body).toMatchObject({ id: job.id, job_type: 'import_file', status: 'completed' });
    // jobdeck's addition beside it: the job's durable steps (one stored here by hand)
    await t.pool.query(
      `insert into jobdeck.job_steps (job_id, name, position, result, attempt, completed_at)
       values ($1, 'parse', 0, '{"rows": 10}', 1, now())`,
      [job.id],
    );
    const steps = await call('GET', `/api/v1/jobs/${job.id}/steps`);
    expect(steps.body).toMatchObject({
      job_id: job.id,
      steps: [{ name: 'parse', kind: 'run', result: { rows: 10 }, timed_out: false }],
    });
    expect((await call('GET', '/api/v1/cron/jobs', { token: null })).status).toBe(404);
    // seed 003's routes (checked against /openapi.json below)
    expect((await call('GET', `/jobs/${job.id}`)).body).toMatchObject({ status: 'COMPLETED' });
    expect((await call('GET', '/jobs?limit=1')).body).toHaveLength(1);
    const logs = await call('GET', `/jobs/${job.id}/logs?limit=2`);
    expect(logs.body).toHaveLength(2);
    expect((await call('GET', '/jobs/stats')).body.jobs_by_status.COMPLETED).toBeGreaterThanOrEqual(
      1,
    );
    const later = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'alice',
      orgId: 'acme',
      runAt: LATER(),
    });
    expect((await call('POST', `/jobs/${later.id}/cancel`)).body.status).toBe('CANCELLED');
    expect((await call('POST', `/jobs/${later.id}/retry`)).body.status).toBe('PENDING');
    await jobdeck.cancelJob(later.id);
  });

  it('keeps admin routes for admins, scoped to their organisation', async () => {
    const user = await call('GET', '/api/v1/admin/jobs');
    expect(user).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    const mine = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'bob',
      orgId: 'acme',
      runAt: LATER(),
    });
    // (another organisation's jobs, on every admin route: isolation.test.ts)
    const list = await call('GET', '/api/v1/admin/jobs?page_size=100', { token: tokens['admin'] });
    const ids = list.body.jobs.map((j: { id: string }) => j.id);
    expect(ids).toContain(mine.id);
    const cancelled = await call('DELETE', `/api/v1/admin/jobs/${mine.id}`, {
      token: tokens['admin'],
    });
    expect(cancelled.body).toMatchObject({ id: mine.id, status: 'failed' }); // Novus's words
    const retried = await call('POST', `/api/v1/admin/jobs/${mine.id}/retry`, {
      token: tokens['admin'],
    });
    expect(retried.body).toMatchObject({ id: mine.id, status: 'pending' });
    const stats = await call('GET', '/api/v1/admin/jobs/stats', { token: tokens['admin'] });
    expect(stats.status).toBe(200);
  });
});

describe('GET /session', () => {
  it('names the caller of a token, and answers an anonymous or refused one without an error', async () => {
    const signedIn = await call('GET', '/session', { token: tokens['admin'] });
    expect(signedIn).toEqual({
      status: 200,
      body: {
        auth: 'token',
        devSignin: true,
        identity: { userId: 'root', orgId: 'acme', role: 'admin', permissions: null },
      },
    });
    expect((await call('GET', '/session', { token: null })).body).toEqual({
      auth: 'token',
      devSignin: true,
      identity: null,
    });
    const refused = await call('GET', '/session', { token: 'not-a-jwt' });
    expect(refused.status).toBe(200);
    expect(refused.body).toMatchObject({ auth: 'token', identity: null });
    expect(refused.body.message).toMatch(/not a JWT/);
  });
});

describe('answers the routes do not list', () => {
  it('refuses a body that is not JSON with 415, and an unknown method of a known path with 405 and Allow', async () => {
    const before = await countJobs();
    const response = await fetch(`${server.url}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens['alice']}`, 'content-type': 'application/xml' },
      body: '<job type="export_report"/>',
    });
    const body: unknown = await response.json();
    recorded.push({ method: 'POST', url: '/v1/jobs', status: response.status, body });
    expect(response.status).toBe(415);
    expect(body).toEqual({
      error: 'unsupported_media_type',
      message: expect.stringMatching(/application\/xml/),
    });
    for (const [method, url, allow] of [
      ['PUT', '/v1/jobs', 'GET, HEAD, POST'],
      ['DELETE', '/v1/jobs/00000000-0000-4000-8000-000000000000/status', 'GET, HEAD'],
      ['PATCH', '/openapi.json', 'GET, HEAD'],
    ] as const) {
      const refused = await fetch(`${server.url}${url}`, {
        method,
        headers: { authorization: `Bearer ${tokens['alice']}` },
      });
      expect(refused.status, `${method} ${url}`).toBe(405);
      expect(refused.headers.get('allow'), `${method} ${url}`).toBe(allow);
      expect(await refused.json()).toEqual({
        error: 'method_not_allowed',
        message: `${url} answers ${allow}, not ${method}`,
      });
    }
    expect(await countJobs()).toBe(before);
  });

  it('answers an event stream beyond the per-user limit with 429', async () => {
    const own = await startTestServer(t, { sseMaxStreamsPerUser: 1 });
    const headers = { authorization: `Bearer ${tokens['alice']}` };
    const first = new AbortController();
    try {
      const open = await fetch(`${own.url}/v1/jobs/events`, { headers, signal: first.signal });
      expect(open.status).toBe(200);
      const refused = await fetch(`${own.url}/v1/jobs/events`, { headers });
      const body: unknown = await refused.json();
      recorded.push({ method: 'GET', url: '/v1/jobs/events', status: refused.status, body });
      expect(refused.status).toBe(429);
      expect(body).toEqual({ error: 'too_many_streams', message: expect.any(String) });
    } finally {
      first.abort();
      await own.close();
    }
  });
});

describe('the pause routes (issue 20; docs/rest.md, "Pausing")', () => {
  it('refuse an organisation admin: pausing holds every tenant’s jobs, so it is for operators only', async () => {
    for (const [method, url] of [
      ['GET', '/api/v2/admin/pauses'],
      ['POST', '/api/v2/admin/queues/emails/pause'],
      ['POST', '/api/v2/admin/queues/emails/resume'],
      ['POST', '/api/v2/admin/types/export_report/pause'],
      ['POST', '/api/v2/admin/types/export_report/resume'],
      ['POST', '/api/v2/admin/pause'],
      ['POST', '/api/v2/admin/resume'],
    ] as const) {
      const res = await call(method, url, { token: tokens['admin'] });
      expect([url, res.status, res.body.error]).toEqual([url, 403, 'forbidden']);
    }
    // (their successful answers are checked against this document in pauses-api.test.ts)
  });
});

describe('the template routes (issue 21; docs/rest.md, "Job templates")', () => {
  it('list the caller’s templates and enqueue from one, the payload merged over its defaults', async () => {
    await jobdeck.defineTemplate('quotes-report', {
      type: 'export_report',
      payload: { reportType: 'quotes' },
      priority: 3,
    });
    const listed = await call('GET', '/api/v2/templates');
    expect(listed.status).toBe(200);
    expect(listed.body.templates.map((tpl: { name: string }) => tpl.name)).toContain(
      'quotes-report',
    );
    const made = await call('POST', '/api/v2/templates/quotes-report/jobs', {
      body: { payload: { format: 'csv' } },
    });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ type: 'export_report', priority: 3, payload: REPORT });
    const before = await countJobs();
    const unknown = await call('POST', '/api/v2/templates/no-such/jobs', { body: {} });
    expect(unknown).toMatchObject({ status: 404, body: { error: 'not_found' } });
    const invalid = await call('POST', '/api/v2/templates/quotes-report/jobs', {
      body: { payload: { format: 'pdf-ish' } },
    });
    expect(invalid).toMatchObject({ status: 400, body: { error: 'invalid_payload' } });
    expect(await countJobs()).toBe(before);
    await jobdeck.deleteTemplate('quotes-report');
  });
});

describe('POST /api/v2/job-graphs (issue 21, dependencies)', () => {
  it('enqueues jobs that depend on each other by ref, all or none', async () => {
    const made = await call('POST', '/api/v2/job-graphs', {
      body: {
        jobs: {
          quotes: { type: 'export_report', payload: REPORT, runAt: LATER().toISOString() },
          mail: { type: 'export_report', payload: REPORT, dependsOn: ['quotes'] },
        },
      },
    });
    expect(made.status).toBe(201);
    expect(made.body.jobs).toMatchObject({
      quotes: { type: 'export_report', status: 'queued' },
      mail: { type: 'export_report', status: 'waiting' },
    });
    const before = await countJobs();
    const cycle = await call('POST', '/api/v2/job-graphs', {
      body: {
        jobs: {
          a: { type: 'export_report', payload: REPORT, dependsOn: ['b'] },
          b: { type: 'export_report', payload: REPORT, dependsOn: ['a'] },
        },
      },
    });
    expect(cycle).toMatchObject({ status: 400, body: { error: 'invalid_argument' } });
    expect(cycle.body.message).toContain('form a cycle');
    expect(await countJobs()).toBe(before);
  });
});

describe('batches (GET /api/v2/batches/:id, POST …/cancel)', () => {
  it('shows a batch’s progress to its owner only, and cancels it as a whole', async () => {
    const batch = await jobdeck.enqueueBatch(
      [
        { type: 'export_report', payload: REPORT, runAt: LATER() },
        { type: 'export_report', payload: REPORT, runAt: LATER() },
      ],
      { ownerId: 'alice', orgId: 'acme' },
    );
    const shown = await call('GET', `/api/v2/batches/${batch.id}`);
    expect(shown).toMatchObject({
      status: 200,
      body: { id: batch.id, total: 2, succeeded: 0, finished: 0, percent: 0, status: 'running' },
    });
    expect(shown.body).not.toHaveProperty('ownerId');
    expect(
      await call('GET', `/api/v2/batches/${batch.id}`, { token: tokens['bob'] }),
    ).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(await call('GET', `/api/v2/batches/${batch.id}`, { token: null })).toMatchObject({
      status: 401,
    });
    expect(await call('GET', '/api/v2/batches/not-a-uuid')).toMatchObject({ status: 400 });
    expect(
      await call('POST', `/api/v2/batches/${batch.id}/cancel`, { token: tokens['bob'] }),
    ).toMatchObject({ status: 404, body: { error: 'not_found' } });
    const noCancel = await tokenFor('alice', 'acme', { permissions: ['jobs.view_jobs'] });
    expect(
      await call('POST', `/api/v2/batches/${batch.id}/cancel`, { token: noCancel }),
    ).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    expect(await call('POST', `/api/v2/batches/${batch.id}/cancel`)).toMatchObject({
      status: 200,
      body: { id: batch.id, cancelled: 2, finished: 2, percent: 100, status: 'completed' },
    });
  });
});

describe('the OpenAPI description', () => {
  it('is a valid OpenAPI 3.1 document, describing every response the routes above sent, errors included', async () => {
    const served: unknown = await (await fetch(`${server.url}/openapi.json`)).json();
    // A third-party validator: the OpenAPI 3.1 schema, and every $ref resolves.
    await SwaggerParser.validate(structuredClone(served) as never);
    const document = (await SwaggerParser.dereference(
      structuredClone(served) as never,
    )) as unknown as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          { responses: Record<string, { content: Record<string, { schema: object }> }> }
        >
      >;
    };
    expect(document.openapi).toBe('3.1.0');
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    // static paths first: /jobs/stats is not /jobs/{id}
    const byParams = (t: string) => (t.match(/\{/g) ?? []).length;
    const templates = Object.keys(document.paths)
      .sort((a, b) => byParams(a) - byParams(b))
      .map((template) => ({
        template,
        pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
      }));
    const exercised = new Set<string>();
    const statuses = new Set<number>();
    let checked = 0;
    for (const response of recorded) {
      const pathname = response.url.split('?')[0]!;
      const match = templates.find((t) => t.pattern.test(pathname));
      if (!match) continue; // a route that does not exist (the 404 case)
      const operation = document.paths[match.template]![response.method.toLowerCase()];
      if (!operation) continue;
      exercised.add(`${response.method} ${match.template}`);
      const described = operation.responses[String(response.status)];
      expect(
        described,
        `${response.method} ${pathname} → ${response.status} is not described`,
      ).toBeDefined();
      const schema = described!.content['application/json']?.schema;
      if (!schema) continue;
      const validate = ajv.compile(schema);
      const valid = validate(response.body);
      expect(
        valid,
        `${response.method} ${pathname} → ${response.status}: ${ajv.errorsText(validate.errors)}`,
      ).toBe(true);
      statuses.add(response.status);
      checked += 1;
    }
    expect(checked).toBeGreaterThan(40);
    // the error answers were checked against the document too, not only the successes
    expect([...statuses].sort()).toEqual(
      expect.arrayContaining([200, 201, 400, 401, 403, 404, 409, 413, 415, 429]),
    );
    const all = Object.entries(document.paths).flatMap(([template, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${template}`),
    );
    const missing = all.filter((key) => !exercised.has(key) && !key.endsWith('/events'));
    expect(missing).toEqual([]);
  });
});
