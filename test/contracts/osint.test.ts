/**
 * Seed 003 (the OSINT monitor), played as a client written from the seed document alone would:
 * its "API Endpoints", its `Job` and `JobLog` models with their enums, and its
 * `WebSocket /ws/jobs/{job_id}` with the JobNotificationService's three notifications.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Jobdeck } from '../../src/client.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { tokenFor } from '../helpers/api.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { runTestWorker } from '../helpers/worker.ts';

let t: TestDatabase;
let jobdeck: Jobdeck;
let server: JobdeckServer;
let tasks: TaskRegistry;
const tokens: Record<string, string> = {};
const bed = useApiTestbed();

beforeAll(async () => {
  ({ t, jobdeck, server, tasks } = bed);
  tokens['alice'] = await tokenFor('alice', 'acme');
  tokens['bob'] = await tokenFor('bob', 'acme');
  tokens['admin'] = await tokenFor('root', 'acme', { role: 'admin' });
  tokens['globex'] = await tokenFor('root', 'globex', { role: 'admin' });
});

// --- the seed's models, as written in its "Job Monitoring Models" ------------------------------
const JOB_FIELDS = [
  'id',
  'job_type',
  'subject_id',
  'status',
  'progress_percent',
  'current_step',
  'total_steps',
  'completed_steps',
  'priority',
  'created_at',
  'started_at',
  'completed_at',
  'estimated_duration',
  'memory_usage_mb',
  'cpu_usage_percent',
  'result_data',
  'error_message',
  'error_traceback',
  'retry_count',
  'max_retries',
  'created_by',
  'worker_id',
  'queue_name',
].sort();
const JOB_LOG_FIELDS = ['id', 'job_id', 'level', 'message', 'timestamp', 'step_name', 'data'];
const STATUSES = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'];
const PRIORITIES = ['LOW', 'NORMAL', 'HIGH', 'URGENT'];
const LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LATER = () => new Date(Date.now() + 3_600_000);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- bodies are checked by shape
type Body = any;
async function call(
  method: string,
  url: string,
  options: { token?: string | null; body?: unknown } = {},
): Promise<{ status: number; body: Body }> {
  const token = options.token === undefined ? tokens['alice'] : options.token;
  const headers: Record<string, string> = {};
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${server.url}${url}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

function expectSeedJob(job: Body): void {
  expect(Object.keys(job).sort()).toEqual(JOB_FIELDS);
  expect(job.id).toMatch(UUID);
  expect(STATUSES).toContain(job.status);
  expect(PRIORITIES).toContain(job.priority);
  expect(typeof job.progress_percent).toBe('number');
  expect(typeof job.retry_count).toBe('number');
  expect(typeof job.max_retries).toBe('number');
  expect(typeof job.created_by).toBe('string');
  expect(typeof job.queue_name).toBe('string');
}

const enqueue = (payload: Record<string, unknown>, options: Record<string, unknown> = {}) =>
  jobdeck.enqueueJob('import_file', payload, { ownerId: 'alice', orgId: 'acme', ...options });

describe('GET /jobs/{job_id} and GET /jobs (seed 003)', () => {
  it("returns the seed's Job model, its enums and field names, for a finished job", async () => {
    const job = await enqueue(
      { filename: 'subjects.csv', rows: 5, stepDelayMs: 0 },
      { related: { type: 'subject', id: 'subj-1' }, queue: 'osint' },
    );
    const worker = await runTestWorker(t, tasks);
    await waitForStatus(jobdeck, job.id, 'succeeded').finally(() => worker.stop());
    const res = await call('GET', `/jobs/${job.id}`);
    expect(res.status).toBe(200);
    expectSeedJob(res.body);
    expect(res.body).toMatchObject({
      id: job.id,
      job_type: 'import_file',
      subject_id: 'subj-1',
      status: 'COMPLETED',
      progress_percent: 100,
      current_step: 'done',
      priority: 'NORMAL',
      retry_count: 0,
      max_retries: 2,
      created_by: 'alice',
      queue_name: 'osint',
      error_message: null,
      error_traceback: null,
      result_data: expect.any(Object),
      completed_at: expect.any(String),
      worker_id: expect.any(String),
    });
    // resource usage: recorded by the worker, derived as docs/rest.md says
    expect(res.body.memory_usage_mb).toBeGreaterThan(0);
    expect(res.body.cpu_usage_percent === null || res.body.cpu_usage_percent >= 0).toBe(true);
  });

  it('maps priorities onto LOW/NORMAL/HIGH/URGENT and filters by status, priority, type, subject', async () => {
    const made = await Promise.all(
      (['urgent', 'high', 'normal', 'low'] as const).map((priority) =>
        enqueue(
          { filename: `${priority}.csv` },
          { priority, runAt: LATER(), related: { type: 'subject', id: 'subj-prio' } },
        ),
      ),
    );
    const seen = await Promise.all(made.map((j) => call('GET', `/jobs/${j.id}`)));
    expect(seen.map((r) => r.body.priority)).toEqual(['URGENT', 'HIGH', 'NORMAL', 'LOW']);
    expect(seen.every((r) => r.body.status === 'PENDING')).toBe(true);

    const list = await call('GET', '/jobs?subject_id=subj-prio&status=PENDING');
    expect(list.status).toBe(200);
    expect(Array.isArray(list.body)).toBe(true);
    for (const job of list.body) expectSeedJob(job);
    expect(list.body.map((j: Body) => j.id).sort()).toEqual(made.map((j) => j.id).sort());
    const high = await call('GET', '/jobs?subject_id=subj-prio&priority=HIGH');
    expect(high.body.map((j: Body) => j.id)).toEqual([made[1]!.id]);
    const none = await call('GET', '/jobs?subject_id=subj-prio&status=COMPLETED');
    expect(none).toEqual({ status: 200, body: [] });
    const typed = await call('GET', '/jobs?job_type=import_file&limit=2&offset=1');
    expect(typed.body).toHaveLength(2);
    // bob sees none of alice's jobs; her admin sees them all
    expect(
      (await call('GET', '/jobs?subject_id=subj-prio', { token: tokens['bob'] })).body,
    ).toEqual([]);
    expect(
      (await call('GET', '/jobs?subject_id=subj-prio', { token: tokens['admin'] })).body,
    ).toHaveLength(4);
  });

  it('names the problem with bad filters and ids, and needs a token', async () => {
    const bad = await call('GET', '/jobs?status=DONE');
    expect(bad).toEqual({
      status: 400,
      body: {
        error: 'invalid_request',
        message: expect.stringContaining(
          'status must be one of PENDING, RUNNING, COMPLETED, FAILED, CANCELLED',
        ),
      },
    });
    expect((await call('GET', '/jobs?limit=0')).body.message).toMatch(/limit must be at least 1/);
    expect((await call('GET', '/jobs?page=2')).status).toBe(400);
    expect((await call('GET', '/jobs/not-a-uuid')).body.message).toMatch(/job_id must be a job id/);
    expect((await call('GET', '/jobs', { token: null })).status).toBe(401);
    const unknown = await call('GET', '/jobs/00000000-0000-4000-8000-000000000000');
    expect(unknown).toEqual({
      status: 404,
      body: { error: 'not_found', message: expect.any(String) },
    });
  });
});

describe('POST /jobs/{job_id}/cancel and /retry (seed 003)', () => {
  it('cancels a pending job, refuses a finished one, and retries it', async () => {
    const job = await enqueue({ filename: 'c.csv' }, { runAt: LATER() });
    const cancelled = await call('POST', `/jobs/${job.id}/cancel`, {
      body: { reason: 'no longer needed' },
    });
    expect(cancelled.status).toBe(200);
    expectSeedJob(cancelled.body);
    expect(cancelled.body).toMatchObject({
      status: 'CANCELLED',
      error_message: 'no longer needed',
    });
    const again = await call('POST', `/jobs/${job.id}/retry`);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: job.id, status: 'PENDING' });
    expect((await call('POST', `/jobs/${job.id}/cancel`)).body.status).toBe('CANCELLED');
    // another user's job: 404, like an unknown one
    expect((await call('POST', `/jobs/${job.id}/retry`, { token: tokens['bob'] })).status).toBe(
      404,
    );
    expect((await call('POST', `/jobs/${job.id}/cancel`, { body: { reason: 5 } })).status).toBe(
      400,
    );
  });

  it('retries a failed job, and refuses to cancel it (409)', async () => {
    const job = await enqueue({ filename: 'bad.csv', content: ',a\n1,2', stepDelayMs: 0 });
    const worker = await runTestWorker(t, tasks);
    await waitForStatus(jobdeck, job.id, 'failed').finally(() => worker.stop());
    const failed = await call('GET', `/jobs/${job.id}`);
    expect(failed.body).toMatchObject({
      status: 'FAILED',
      error_message: expect.stringContaining('the first line must be a CSV header'),
      // stack traces are for admins (test/security/error-stacks.test.ts)
      error_traceback: null,
    });
    const asAdmin = await call('GET', `/jobs/${job.id}`, { token: tokens['admin'] });
    expect(asAdmin.body.error_traceback).toEqual(expect.stringContaining('Error'));
    const refused = await call('POST', `/jobs/${job.id}/cancel`);
    expect(refused).toMatchObject({ status: 409, body: { error: 'invalid_state' } });
    const retried = await call('POST', `/jobs/${job.id}/retry`);
    expect(retried.body).toMatchObject({ status: 'PENDING', error_message: null });
    await call('POST', `/jobs/${job.id}/cancel`);
  });
});

describe('GET /jobs/{job_id}/logs (seed 003)', () => {
  it("lists JobLog entries with the seed's fields and levels, filterable by level", async () => {
    const job = await enqueue({ filename: 'log.csv', rows: 3, stepDelayMs: 0 });
    const worker = await runTestWorker(t, tasks);
    await waitForStatus(jobdeck, job.id, 'succeeded').finally(() => worker.stop());
    const logs = await call('GET', `/jobs/${job.id}/logs`);
    expect(logs.status).toBe(200);
    expect(logs.body.length).toBeGreaterThan(2);
    for (const line of logs.body) {
      expect(Object.keys(line).sort()).toEqual([...JOB_LOG_FIELDS].sort());
      expect(line.id).toMatch(UUID);
      expect(line.job_id).toBe(job.id);
      expect(LEVELS).toContain(line.level);
      expect(Date.parse(line.timestamp)).not.toBeNaN();
    }
    expect(new Set(logs.body.map((l: Body) => l.id)).size).toBe(logs.body.length);
    expect(logs.body.some((l: Body) => l.message.startsWith('received log.csv'))).toBe(true);
    const info = await call('GET', `/jobs/${job.id}/logs?level=INFO`);
    expect(info.body.length).toBeGreaterThan(0);
    expect(info.body.every((l: Body) => l.level === 'INFO')).toBe(true);
    const page = await call('GET', `/jobs/${job.id}/logs?limit=1&offset=1`);
    expect(page.body).toEqual([logs.body[1]]);
    expect((await call('GET', `/jobs/${job.id}/logs`, { token: tokens['bob'] })).status).toBe(404);
    expect((await call('GET', `/jobs/${job.id}/logs?level=TRACE`)).body.message).toMatch(
      /level must be one of DEBUG, INFO, WARNING, ERROR/,
    );
  });
});

describe('GET /jobs/stats (seed 003)', () => {
  it('shows queue status and the running jobs’ resource usage', async () => {
    await enqueue({ filename: 'wait.csv' }, { runAt: LATER() });
    const stats = await call('GET', '/jobs/stats');
    expect(stats.status).toBe(200);
    expect(Object.keys(stats.body.jobs_by_status).sort()).toEqual([...STATUSES].sort());
    expect(stats.body.jobs_by_status.PENDING).toBeGreaterThanOrEqual(1);
    expect(stats.body.queue_status).toMatchObject({
      queue_depth: expect.any(Number),
      scheduled: expect.any(Number),
      throughput_per_minute: expect.any(Number),
    });
    expect(stats.body.queue_status.scheduled).toBeGreaterThanOrEqual(1);
    expect(stats.body.resource_usage).toEqual({
      running_jobs: 0,
      workers: 0,
      memory_usage_mb: null,
      cpu_usage_percent: null,
    });
    expect(stats.body.total_jobs).toBe(
      Object.values(stats.body.jobs_by_status as Record<string, number>).reduce((a, b) => a + b),
    );

    // a running job's usage shows while it runs
    const slow = await enqueue({ filename: 'slow.csv', rows: 3, stepDelayMs: 1_500 });
    const worker = await runTestWorker(t, tasks, { config: { heartbeatIntervalMs: 200 } });
    try {
      const usage = await waitFor(async () => {
        const body = (await call('GET', '/jobs/stats')).body;
        return body.resource_usage.memory_usage_mb !== null && body.resource_usage;
      });
      expect(usage).toMatchObject({ running_jobs: 1, workers: 1 });
      expect(usage.memory_usage_mb).toBeGreaterThan(0);
      expect(
        (await call('GET', '/jobs/stats', { token: tokens['bob'] })).body.resource_usage,
      ).toMatchObject({ running_jobs: 0 });
    } finally {
      await call('POST', `/jobs/${slow.id}/cancel`);
      await worker.stop();
    }
    expect((await call('GET', '/jobs/stats?since=yesterday')).status).toBe(400);
  });
});

// --- WebSocket /ws/jobs/{job_id} ------------------------------------------------------------------

interface Socket {
  messages: Body[];
  closed: Promise<{ code: number; reason: string }>;
  ws: WebSocket;
}

function openSocket(path: string, headers: Record<string, string> = {}): Promise<Socket> {
  const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}${path}`, { headers });
  const messages: Body[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(String(data))));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  return new Promise((resolve, reject) => {
    ws.on('open', () => resolve({ messages, closed, ws }));
    ws.on('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.on('error', reject);
  });
}

describe('WebSocket /ws/jobs/{job_id} (seed 003)', () => {
  it('pushes progress_update with monotonic progress, then job_completed, then closes 1000', async () => {
    const job = await enqueue({ filename: 'ws.csv', rows: 3, stepDelayMs: 50 });
    const socket = await openSocket(`/ws/jobs/${job.id}?token=${tokens['alice']}`);
    await waitFor(() => socket.messages.length > 0);
    expect(socket.messages[0]).toMatchObject({ type: 'progress_update', job_id: job.id });
    expectSeedJob(socket.messages[0].data);
    const worker = await runTestWorker(t, tasks);
    const closed = await socket.closed.finally(() => worker.stop());
    expect(closed).toEqual({ code: 1000, reason: 'job COMPLETED' });
    const last = socket.messages.at(-1);
    expect(last).toMatchObject({ type: 'job_completed', job_id: job.id });
    expect(last.data).toMatchObject({ status: 'COMPLETED', progress_percent: 100 });
    const before = socket.messages.slice(0, -1);
    expect(before.every((m) => m.type === 'progress_update')).toBe(true);
    const progress = socket.messages.map((m) => m.data.progress_percent as number);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    await waitFor(() => server.changes.activeSubscriptions === 0);
  });

  it('pushes job_failed with the error, with the Authorization header instead of ?token=', async () => {
    const job = await enqueue({ filename: 'bad.csv', content: ',a\n1,2', stepDelayMs: 0 });
    const socket = await openSocket(`/ws/jobs/${job.id}`, {
      authorization: `Bearer ${tokens['alice']}`,
    });
    const worker = await runTestWorker(t, tasks);
    const closed = await socket.closed.finally(() => worker.stop());
    expect(closed).toEqual({ code: 1000, reason: 'job FAILED' });
    expect(socket.messages.at(-1)).toMatchObject({
      type: 'job_failed',
      job_id: job.id,
      data: {
        status: 'FAILED',
        error_message: expect.stringContaining('the first line must be a CSV header'),
      },
    });
    expect(socket.messages.slice(0, -1).every((m) => m.type === 'progress_update')).toBe(true);
  });

  it('sends a finished job at once and closes; a cancelled one as a last progress_update', async () => {
    const job = await enqueue({ filename: 'x.csv' }, { runAt: LATER() });
    const open = await openSocket(`/ws/jobs/${job.id}?token=${tokens['admin']}`);
    await waitFor(() => open.messages.length === 1);
    await call('POST', `/jobs/${job.id}/cancel`);
    expect(await open.closed).toEqual({ code: 1000, reason: 'job CANCELLED' });
    expect(open.messages.at(-1)).toMatchObject({
      type: 'progress_update',
      data: { status: 'CANCELLED' },
    });
    const late = await openSocket(`/ws/jobs/${job.id}?token=${tokens['alice']}`);
    expect(await late.closed).toEqual({ code: 1000, reason: 'job CANCELLED' });
    expect(late.messages).toHaveLength(1);
  });

  it("closes 4404 for another tenant's job exactly as for an unknown one", async () => {
    const job = await enqueue({ filename: 'mine.csv' }, { runAt: LATER() });
    const refusals = [];
    for (const [token, id] of [
      [tokens['bob'], job.id],
      [tokens['globex'], job.id],
      [tokens['bob'], '00000000-0000-4000-8000-000000000000'],
    ] as const) {
      const socket = await openSocket(`/ws/jobs/${id}?token=${token}`);
      const closed = await socket.closed;
      refusals.push({ closed, messages: socket.messages });
    }
    const [bob, globex, unknown] = refusals.map((r) =>
      JSON.stringify(r)
        .replaceAll(job.id, '<id>')
        .replaceAll('00000000-0000-4000-8000-000000000000', '<id>'),
    );
    expect(bob).toBe(unknown);
    expect(globex).toBe(unknown);
    expect(refusals[0]).toEqual({
      closed: { code: 4404, reason: `job ${job.id} not found` },
      messages: [
        { type: 'error', job_id: job.id, error: 'not_found', message: `job ${job.id} not found` },
      ],
    });
    await waitFor(() => server.changes.activeSubscriptions === 0);
    await call('POST', `/jobs/${job.id}/cancel`);
  });

  it('refuses an absent or bad token: 4401 after the upgrade, or 401 at it for a bad header', async () => {
    const job = await enqueue({ filename: 'auth.csv' }, { runAt: LATER() });
    const absent = await openSocket(`/ws/jobs/${job.id}`);
    expect(await absent.closed).toMatchObject({ code: 4401 });
    expect(absent.messages).toEqual([
      {
        type: 'error',
        job_id: null,
        error: 'unauthorized',
        message: expect.stringMatching(/sign in/),
      },
    ]);
    const bad = await openSocket(`/ws/jobs/${job.id}?token=not-a-jwt`);
    expect(await bad.closed).toMatchObject({
      code: 4401,
      reason: expect.stringMatching(/not a JWT/),
    });
    const expired = await tokenFor('alice', 'acme', { ttlSeconds: 1 });
    await new Promise((resolve) => setTimeout(resolve, 2_100)); // until it has expired
    const old = await openSocket(`/ws/jobs/${job.id}?token=${expired}`);
    expect(await old.closed).toMatchObject({
      code: 4401,
      reason: expect.stringMatching(/expired/),
    });
    await expect(
      openSocket(`/ws/jobs/${job.id}`, { authorization: 'Bearer not-a-jwt' }),
    ).rejects.toThrow('HTTP 401');
    const badId = await openSocket(`/ws/jobs/nope?token=${tokens['alice']}`);
    expect(await badId.closed).toMatchObject({ code: 4400 });
    await expect(openSocket(`/ws/nothing/${job.id}`)).rejects.toThrow('HTTP 404');
    const plain = await fetch(`${server.url}/ws/jobs/${job.id}`);
    expect(plain.status).toBe(426);
    expect(server.changes.activeSubscriptions).toBe(0);
    await call('POST', `/jobs/${job.id}/cancel`);
  });

  it('frees its subscription when the client closes the socket', async () => {
    const job = await enqueue({ filename: 'leave.csv' }, { runAt: LATER() });
    const before = server.changes.activeSubscriptions;
    const sockets = await Promise.all(
      [1, 2, 3].map(() => openSocket(`/ws/jobs/${job.id}?token=${tokens['alice']}`)),
    );
    await waitFor(() => sockets.every((s) => s.messages.length === 1));
    expect(server.changes.activeSubscriptions).toBe(before + 3);
    for (const s of sockets) s.ws.close();
    await Promise.all(sockets.map((s) => s.closed));
    await waitFor(() => server.changes.activeSubscriptions === before, {
      what: 'the sockets’ subscriptions to end',
    });
    // and a change after they left reaches no one and breaks nothing
    await call('POST', `/jobs/${job.id}/cancel`);
    expect(server.changes.activeSubscriptions).toBe(before);
  });
});
