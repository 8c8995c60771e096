import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { signScopedToken } from '../../src/auth/scoped-tokens.ts';
import { createLiveClient } from '../../src/react/live-client.ts';
import type { LiveFeed, LiveStatus } from '../../src/react/live-feed.ts';
import { TEST_JWT_SECRET, tokenFor } from '../helpers/api.ts';
import { waitFor } from '../helpers/db.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { runTestWorker } from '../helpers/worker.ts';

const bed = useApiTestbed();
const feeds: LiveFeed<unknown>[] = [];
const proxies: Proxy[] = [];
afterEach(async () => {
  for (const feed of feeds.splice(0)) feed.close();
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

/** Everything a feed went through, for the assertions. */
function record<T>(feed: LiveFeed<T>) {
  feeds.push(feed as LiveFeed<unknown>);
  const statuses: LiveStatus[] = [feed.getState().status];
  const states = [feed.getState()];
  feed.subscribe(() => {
    const state = feed.getState();
    states.push(state);
    if (statuses.at(-1) !== state.status) statuses.push(state.status);
  });
  return { statuses, states, now: () => feed.getState() };
}

/**
 * A proxy in front of the test server that can refuse event streams (as a proxy that buffers them
 * or a firewall would) and cut the open ones (as a restart or a dropped network does).
 */
interface Proxy {
  url: string;
  blockStreams: boolean;
  dropStreams(): void;
  close(): Promise<void>;
}

async function startProxy(target: string): Promise<Proxy> {
  const upstream = new URL(target);
  const open = new Set<http.ServerResponse>();
  const proxy: Proxy = {
    url: '',
    blockStreams: false,
    dropStreams: () => {
      for (const response of open) response.destroy();
      open.clear();
    },
    close: () => {
      proxy.dropStreams();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((request, response) => {
    const isStream = /\/events(\?|$)/.test(request.url ?? '');
    if (isStream && proxy.blockStreams) {
      response.writeHead(502, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: 'bad_gateway', message: 'streams are blocked' }));
      return;
    }
    const forwarded = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: request.url,
        method: request.method,
        headers: request.headers,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
        if (isStream) {
          open.add(response);
          response.on('close', () => {
            open.delete(response);
            forwarded.destroy();
          });
        }
      },
    );
    forwarded.on('error', () => response.destroy());
    request.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxies.push(proxy);
  return proxy;
}

const importJob = (stepDelayMs: number, ownerId = 'lia') =>
  bed.jobdeck.enqueueJob(
    'import_file',
    { filename: 'live.csv', rows: 20, stepDelayMs },
    { ownerId, orgId: 'acme' },
  );

describe('createLiveClient().followJob()', () => {
  it('follows a job to 100 % live with a token scoped to it', async () => {
    const job = await importJob(100);
    const token = await signScopedToken(TEST_JWT_SECRET, {
      jobId: job.id,
      userId: 'lia',
      orgId: 'acme',
    });
    const feed = record(createLiveClient({ baseUrl: bed.server.url, token }).followJob(job.id));
    await waitFor(() => feed.now().status === 'live' && feed.now().data, { what: 'live' });
    expect(feed.now().data).toMatchObject({ id: job.id, status: 'queued', canCancel: true });
    const worker = await runTestWorker(bed.t, bed.tasks);
    await waitFor(() => feed.now().status === 'done', { what: 'the job to finish' });
    await worker.stop();
    expect(feed.now().data).toMatchObject({ status: 'succeeded', progress: 100 });
    expect(feed.statuses).toEqual(['connecting', 'live', 'done']);
    const progress = feed.states.flatMap((state) => (state.data ? [state.data.progress] : []));
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('reconnects when the stream drops, and carries on to the end', async () => {
    const proxy = await startProxy(bed.server.url);
    const job = await importJob(300);
    const client = createLiveClient({
      baseUrl: proxy.url,
      token: await tokenFor('lia', 'acme'),
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
    });
    const feed = record(client.followJob(job.id));
    const worker = await runTestWorker(bed.t, bed.tasks);
    await waitFor(() => (feed.now().data?.progress ?? 0) > 0, { what: 'some progress' });
    proxy.dropStreams();
    await waitFor(() => feed.now().status === 'done', { what: 'the job to finish' });
    await worker.stop();
    expect(feed.now().data).toMatchObject({ status: 'succeeded', progress: 100 });
    expect(feed.statuses).toEqual(['connecting', 'live', 'reconnecting', 'live', 'done']);
  });

  it('polls when the stream keeps failing, and goes live again once it answers', async () => {
    const proxy = await startProxy(bed.server.url);
    proxy.blockStreams = true;
    const job = await bed.jobdeck.enqueueJob(
      'import_file',
      { filename: 'poll.csv', rows: 20, stepDelayMs: 200 },
      { ownerId: 'lia', orgId: 'acme', runAt: new Date(Date.now() + 3_600_000) },
    );
    const client = createLiveClient({
      baseUrl: proxy.url,
      token: await tokenFor('lia', 'acme'),
      reconnect: { initialDelayMs: 50, maxDelayMs: 400 },
      pollAfterFailures: 2,
      pollIntervalMs: 100,
    });
    const feed = record(client.followJob(job.id));
    await waitFor(() => feed.now().status === 'polling', { what: 'polling' });
    expect(feed.now().data).toMatchObject({ id: job.id, status: 'queued' });
    // a change arrives through the polls
    await bed.jobdeck.cancelJob(job.id);
    await waitFor(() => feed.now().status === 'done', { what: 'the cancel, polled' });
    expect(feed.now().data).toMatchObject({ status: 'cancelled' });
    expect(feed.statuses).toEqual(['connecting', 'reconnecting', 'polling', 'done']);

    const next = await importJob(200);
    const second = record(client.followJob(next.id));
    await waitFor(() => second.now().status === 'polling', { what: 'polling' });
    proxy.blockStreams = false;
    await waitFor(() => second.now().status === 'live', { what: 'live again' });
    const worker = await runTestWorker(bed.t, bed.tasks);
    await waitFor(() => second.now().status === 'done', { what: 'the job to finish' });
    await worker.stop();
    expect(second.now().data).toMatchObject({ status: 'succeeded', progress: 100 });
  });

  it('asks the token function again after a 401, and reopens a stream gone silent', async () => {
    const job = await bed.jobdeck.enqueueJob(
      'import_file',
      { filename: 'quiet.csv', rows: 20, stepDelayMs: 0 },
      { ownerId: 'lia', orgId: 'acme', runAt: new Date(Date.now() + 3_600_000) },
    );
    const tokens = [
      await tokenFor('lia', 'acme', { ttlSeconds: 1 }),
      await tokenFor('lia', 'acme'),
    ];
    // the first token is expired by the time the feed opens
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    let asked = 0;
    const client = createLiveClient({
      baseUrl: bed.server.url,
      token: () => tokens[Math.min(asked++, 1)]!,
      staleAfterMs: 300,
      reconnect: { initialDelayMs: 50, maxDelayMs: 100 },
    });
    const feed = record(client.followJob(job.id));
    await waitFor(() => feed.now().status === 'live', { what: 'live with the renewed token' });
    expect(asked).toBe(2);
    // nothing changes and the server pings every 15 s: after 300 ms the stream is taken for dead
    await waitFor(() => feed.statuses.filter((s) => s === 'live').length >= 2, {
      what: 'a stale stream reopened',
    });
    expect(feed.statuses.slice(0, 3)).toEqual(['connecting', 'live', 'reconnecting']);
    expect(feed.now().error).toBeNull();
    await bed.jobdeck.cancelJob(job.id);
    await waitFor(() => feed.now().status === 'done', { what: 'the cancel' });
  });

  it('stops with the server’s reason when refused', async () => {
    const job = await importJob(0, 'lia');
    const client = createLiveClient({
      baseUrl: bed.server.url,
      token: await tokenFor('max', 'acme'),
    });
    const feed = record(client.followJob(job.id));
    await waitFor(() => feed.now().status === 'refused', { what: 'refused' });
    expect(feed.now().error).toMatchObject({ status: 404, message: `job ${job.id} not found` });

    const other = await importJob(0, 'lia');
    const scoped = await signScopedToken(TEST_JWT_SECRET, {
      jobId: job.id,
      userId: 'lia',
      orgId: 'acme',
    });
    const wrong = record(
      createLiveClient({ baseUrl: bed.server.url, token: scoped }).followJob(other.id),
    );
    await waitFor(() => wrong.now().status === 'refused', { what: 'refused' });
    expect(wrong.now().error?.status).toBe(403);
    expect(wrong.now().error?.message).toMatch(/scoped to job/);
    await bed.jobdeck.cancelJob(job.id);
    await bed.jobdeck.cancelJob(other.id);
  });
});

describe('createLiveClient() lists', () => {
  it('keeps the active jobs and the DataBiz widget’s list live', async () => {
    const client = createLiveClient({
      baseUrl: bed.server.url,
      token: await tokenFor('kai', 'acme'),
    });
    const active = record(client.followActiveJobs({ type: 'import_file' }));
    const widget = record(client.followBackgroundJobs());
    await waitFor(() => active.now().status === 'live' && widget.now().status === 'live', {
      what: 'both live',
    });
    await waitFor(() => active.now().receivedAt !== null && widget.now().receivedAt !== null, {
      what: 'the first reads',
    });
    expect(active.now().data).toEqual([]);
    expect(widget.now().data).toEqual([]);
    const job = await importJob(100, 'kai');
    await waitFor(() => active.now().data.length === 1, { what: 'the new job listed' });
    expect(active.now().data[0]).toMatchObject({ id: job.id, status: 'queued', canCancel: true });
    await waitFor(() => widget.now().data.length === 1, { what: 'the widget listing it' });
    expect(widget.now().data[0]).toEqual({
      id: job.id,
      type: 'import',
      status: 'running',
      progress: 0,
      filename: 'live.csv',
    });
    const worker = await runTestWorker(bed.t, bed.tasks);
    await waitFor(() => widget.now().data[0]?.status === 'completed', { what: 'completed' });
    await worker.stop();
    expect(widget.now().data[0]?.progress).toBe(100);
    await waitFor(() => active.now().data.length === 0, { what: 'the job gone from active' });
  });
});
