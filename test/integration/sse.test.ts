import { beforeAll, describe, expect, it } from 'vitest';
import type { Jobdeck } from '../../src/client.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { startTestServer, tokenFor } from '../helpers/api.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { waitFor, type TestDatabase } from '../helpers/db.ts';
import { openStream } from '../helpers/sse.ts';
import { runTestWorker } from '../helpers/worker.ts';

let t: TestDatabase;
let jobdeck: Jobdeck;
let server: JobdeckServer;
let tasks: TaskRegistry;

const REPORT = { reportType: 'quotes', format: 'csv' };

const bed = useApiTestbed();

beforeAll(async () => {
  ({ t, jobdeck, server, tasks } = bed);
});

describe('GET /v1/jobs/:id/events', () => {
  it('pushes the job’s status body on every change and ends once it has finished', async () => {
    const token = await tokenFor('sam', 'acme');
    const job = await jobdeck.enqueueJob(
      'import_file',
      { filename: 'live.csv', rows: 20, stepDelayMs: 20 },
      { ownerId: 'sam', orgId: 'acme', runAt: new Date(Date.now() + 3_600_000) },
    );
    const stream = await openStream(`${server.url}/v1/jobs/${job.id}/events`, token);
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get('content-type')).toMatch(/text\/event-stream/);
    await waitFor(() => stream.events.length > 0, { what: 'the first event' });
    expect(stream.events[0]).toMatchObject({
      event: 'job',
      data: { job: { id: job.id, status: 'queued' }, canCancel: true },
    });
    await t.pool.query(`update jobdeck.jobs set run_at = now() where id = $1`, [job.id]);
    await t.pool.query(
      `update graphile_worker._private_jobs set run_at = now() where id = (select gw_job_id from jobdeck.jobs where id = $1)`,
      [job.id],
    );
    const worker = await runTestWorker(t, tasks);
    await stream.done.finally(() => worker.stop());
    const progress = stream.events.filter((e) => e.event === 'job').map((e) => e.data.progress!);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    // What the design guarantees: progress never goes back, the stream starts at 0 and ends at
    // 100. Intermediate values (10, 40…) may be coalesced by the tracker on a busy machine
    // (latest wins), so none of them is required.
    expect(progress[0]).toBe(0);
    expect(progress.at(-1)).toBe(100);
    expect(stream.events.at(-2)).toMatchObject({
      event: 'job',
      data: { job: { status: 'succeeded' } },
    });
    expect(stream.events.at(-1)).toEqual({
      event: 'end',
      data: { id: job.id, status: 'succeeded' },
    });
  });
});

// Bad tokens and other tenants' jobs on the streams: isolation.test.ts.
describe('stream limits', () => {
  it('leaves nothing behind when clients leave during setup, and caps streams per user', async () => {
    const own = await startTestServer(t, { sseMaxStreamsPerUser: 2 });
    const token = await tokenFor('wes', 'acme');
    const job = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'wes',
      orgId: 'acme',
      runAt: new Date(Date.now() + 3_600_000),
    });
    // 30 clients that hang up at once, mid-setup
    for (let i = 0; i < 30; i++) {
      const controller = new AbortController();
      const pending = fetch(`${own.url}/v1/jobs/${job.id}/events`, {
        headers: { authorization: `Bearer ${token}` },
        signal: controller.signal,
      }).catch(() => null);
      controller.abort();
      await pending;
    }
    await waitFor(() => own.changes.activeSubscriptions === 0, {
      what: 'abandoned streams to be released',
    });
    const a = await openStream(`${own.url}/v1/jobs/events`, token);
    const b = await openStream(`${own.url}/v1/jobs/events`, token);
    const c = await fetch(`${own.url}/v1/jobs/events`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(c.status).toBe(429);
    expect(await c.json()).toMatchObject({ error: 'too_many_streams' });
    await a.close();
    await b.close();
    await own.close();
  });
});

describe('GET /v1/jobs/events', () => {
  it('streams changes of the caller’s jobs only, with heartbeats', async () => {
    const own = await startTestServer(t, { sseHeartbeatMs: 50 });
    const token = await tokenFor('una', 'acme');
    const stream = await openStream(`${own.url}/v1/jobs/events`, token);
    expect(stream.response.status).toBe(200);
    await waitFor(() => own.changes.activeSubscriptions === 1, { what: 'the stream to subscribe' });
    const theirs = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'vic',
      orgId: 'acme',
    });
    const mine = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'una',
      orgId: 'acme',
      runAt: new Date(Date.now() + 3_600_000),
    });
    await jobdeck.cancelJob(mine.id);
    await waitFor(
      () =>
        stream.events.some((e) => e.data.job?.id === mine.id && e.data.job.status === 'cancelled'),
      { what: 'the cancel event' },
    );
    expect(stream.events.every((e) => e.data.job?.id === mine.id)).toBe(true);
    expect(stream.events.map((e) => e.data.job!.id)).not.toContain(theirs.id);
    await waitFor(() => stream.pings() >= 2, { what: 'heartbeat comments' });
    await stream.close();
    await waitFor(() => own.changes.activeSubscriptions === 0, {
      what: 'the stream to unsubscribe',
    });
    // a server closing with a stream open ends the stream instead of waiting for it
    const open = await openStream(`${own.url}/v1/jobs/events`, token);
    await waitFor(() => own.changes.activeSubscriptions === 1, { what: 'the second stream' });
    await own.close();
    await open.done;
    expect(open.ended()).toBe(true);
  });
});

describe('a dropped LISTEN connection', () => {
  it('is re-established: streams get `reconnected`, then changes flow again', async () => {
    const token = await tokenFor('rita', 'acme');
    const stream = await openStream(`${server.url}/v1/jobs/events`, token);
    await waitFor(() => server.changes.activeSubscriptions >= 1, { what: 'the stream' });
    await t.pool.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where datname = current_database() and application_name = 'jobdeck-listener'`,
    );
    await waitFor(() => stream.events.some((e) => e.event === 'reconnected'), {
      what: 'a reconnected event',
    });
    // A client re-reads on `reconnected`; from then on changes arrive as before.
    const job = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'rita',
      orgId: 'acme',
      runAt: new Date(Date.now() + 3_600_000),
    });
    await waitFor(() => stream.events.some((e) => e.data.job?.id === job.id), {
      what: 'the new job on the stream',
    });
    await jobdeck.cancelJob(job.id);
    await waitFor(
      () =>
        stream.events.some((e) => e.data.job?.id === job.id && e.data.job.status === 'cancelled'),
      { what: 'the cancel on the stream' },
    );
    await stream.close();
  });
});

describe('HEAD on the event streams', () => {
  it('answers at once with what GET would, opening no stream and holding no slot', async () => {
    const own = await startTestServer(t, { sseMaxStreamsPerUser: 1 });
    try {
      const token = await tokenFor('hedda', 'acme');
      const job = await jobdeck.enqueueJob('export_report', REPORT, {
        ownerId: 'hedda',
        orgId: 'acme',
        runAt: new Date(Date.now() + 3_600_000),
      });
      const head = (path: string, bearer: string | null) =>
        fetch(`${own.url}${path}`, {
          method: 'HEAD',
          headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
        });
      // more HEADs than the one stream allowed: none holds a slot
      for (const path of ['/v1/jobs/events', `/v1/jobs/${job.id}/events`, '/v1/jobs/events']) {
        const response = await head(path, token);
        expect(response.status, path).toBe(200);
        expect(response.headers.get('content-type'), path).toMatch(/^text\/event-stream/);
        expect(await response.text(), path).toBe('');
      }
      expect(own.changes.activeSubscriptions).toBe(0);
      expect((await head('/v1/jobs/events', null)).status).toBe(401);
      const missing = await head('/v1/jobs/00000000-0000-4000-8000-000000000000/events', token);
      expect(missing.status).toBe(404);
      // the one slot is still free for a real stream
      const stream = await openStream(`${own.url}/v1/jobs/events`, token);
      expect(stream.response.status).toBe(200);
      await stream.close();
    } finally {
      await own.close();
    }
  });
});
