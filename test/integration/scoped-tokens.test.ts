import { beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { signScopedToken } from '../../src/auth/scoped-tokens.ts';
import { secretKey } from '../../src/auth/tokens.ts';
import { TEST_JWT_SECRET, gql, subscribe } from '../helpers/api.ts';
import { openStream } from '../helpers/sse.ts';
import { waitFor } from '../helpers/db.ts';
import { useApiTestbed } from '../helpers/testbed.ts';

const bed = useApiTestbed();
const LATER = () => new Date(Date.now() + 3_600_000);
const REPORT = { reportType: 'quotes', format: 'csv' };

let jobId: string;
let otherJobId: string;
let batchId: string;

beforeAll(async () => {
  const own = { ownerId: 'uma', orgId: 'acme', runAt: LATER() };
  jobId = (await bed.jobdeck.enqueueJob('export_report', REPORT, own)).id;
  otherJobId = (await bed.jobdeck.enqueueJob('export_report', REPORT, own)).id;
  batchId = (
    await bed.jobdeck.enqueueBatch([{ type: 'export_report', payload: REPORT, runAt: LATER() }], {
      ownerId: 'uma',
      orgId: 'acme',
    })
  ).id;
});

const call = (path: string, token: string, method = 'GET') =>
  fetch(`${bed.server.url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });

describe('signScopedToken()', () => {
  it('reads its own job, and its event stream, and nothing else', async () => {
    const token = await signScopedToken(TEST_JWT_SECRET, {
      jobId,
      userId: 'uma',
      orgId: 'acme',
    });
    const status = await call(`/v1/jobs/${jobId}/status`, token);
    expect(status.status).toBe(200);
    expect(((await status.json()) as { job: { id: string } }).job.id).toBe(jobId);
    // upper-case ids name the same job
    expect((await call(`/v1/jobs/${jobId.toUpperCase()}/status`, token)).status).toBe(200);

    const stream = await openStream(`${bed.server.url}/v1/jobs/${jobId}/events`, token);
    expect(stream.response.status).toBe(200);
    await waitFor(() => stream.events.length > 0, { what: 'the first event' });
    expect(stream.events[0]).toMatchObject({ event: 'job', data: { job: { id: jobId } } });
    await stream.close();

    for (const path of [
      `/v1/jobs/${otherJobId}/status`,
      `/v1/jobs/${otherJobId}/events`,
      '/v1/jobs',
      '/api/v2/jobs/active',
      `/api/v1/jobs/${jobId}`,
      `/api/v2/batches/${batchId}`,
    ]) {
      const refused = await call(path, token);
      expect(refused.status, path).toBe(403);
      expect(await refused.json(), path).toEqual({
        error: 'forbidden',
        message: expect.stringContaining(`this token is scoped to job ${jobId}`),
      });
    }
  });

  it('is refused by GraphQL, over HTTP and websockets', async () => {
    const token = await signScopedToken(TEST_JWT_SECRET, { jobId, userId: 'uma', orgId: 'acme' });
    const http = await gql(bed.server, '{ activeJobs { nodes { id } } }', { token });
    expect(http.status).toBe(403);
    expect(http.errors?.[0]?.message).toMatch(/scoped to job/);
    const ws = await subscribe(bed.server, 'subscription { myJobsChanged { event } }', {
      token,
      expectError: true,
    });
    const closed = ws.errors[0] as { code?: number; reason?: string };
    expect(closed.code).toBe(4403);
    expect(closed.reason).toMatch(/scoped to job/);
    await ws.close();
  });

  it('cancels only when minted with allowCancel', async () => {
    const readOnly = await signScopedToken(TEST_JWT_SECRET, {
      jobId,
      userId: 'uma',
      orgId: 'acme',
    });
    const refused = await call(`/v1/jobs/${jobId}/cancel`, readOnly, 'POST');
    expect(refused.status).toBe(403);
    expect((await bed.jobdeck.getJob(jobId)).status).toBe('queued');

    const canCancel = await signScopedToken(TEST_JWT_SECRET, {
      jobId,
      userId: 'uma',
      orgId: 'acme',
      allowCancel: true,
    });
    expect((await call(`/v1/jobs/${otherJobId}/cancel`, canCancel, 'POST')).status).toBe(403);
    expect((await call(`/v1/jobs/${jobId}/cancel`, canCancel, 'POST')).status).toBe(200);
    expect((await bed.jobdeck.getJob(jobId)).status).toBe('cancelled');
    expect((await bed.jobdeck.getJob(otherJobId)).status).toBe('queued');
  });

  it('reads its batch, and not the batch’s jobs', async () => {
    const token = await signScopedToken(TEST_JWT_SECRET, { batchId, userId: 'uma', orgId: 'acme' });
    const batch = await call(`/api/v2/batches/${batchId}`, token);
    expect(batch.status).toBe(200);
    expect(((await batch.json()) as { total: number }).total).toBe(1);
    const stream = await openStream(`${bed.server.url}/api/v2/batches/${batchId}/events`, token);
    expect(stream.response.status).toBe(200);
    await stream.close();
    expect((await call(`/v1/jobs/${jobId}/status`, token)).status).toBe(403);
  });

  it('reads nothing of another user, even for the right job id', async () => {
    const token = await signScopedToken(TEST_JWT_SECRET, { jobId, userId: 'val', orgId: 'acme' });
    expect((await call(`/v1/jobs/${jobId}/status`, token)).status).toBe(404);
  });

  it('is refused with 401 once expired', async () => {
    // minted an hour ago with a minute to live
    const expired = await new SignJWT({
      org: 'acme',
      role: 'user',
      permissions: ['jobs.view_jobs'],
      jobdeck_scope: { kind: 'job', id: jobId },
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('uma')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3540)
      .sign(secretKey(TEST_JWT_SECRET));
    const response = await call(`/v1/jobs/${jobId}/status`, expired);
    expect(response.status).toBe(401);
    expect(((await response.json()) as { message: string }).message).toMatch(/expired at/);
  });

  it('refuses bad arguments', async () => {
    await expect(
      signScopedToken(TEST_JWT_SECRET, { jobId: 'nope', userId: 'uma', orgId: 'acme' }),
    ).rejects.toThrow(/jobId must be a UUID/);
    await expect(
      signScopedToken(TEST_JWT_SECRET, { jobId, userId: 'uma', orgId: 'acme', ttlSeconds: 90_000 }),
    ).rejects.toThrow(/1 s to 24 h/);
  });
});
