import { createServer, type Server } from 'node:http';
import path from 'node:path';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createJobdeck, type Jobdeck } from 'jobdeck';
import {
  createJobdeckHandler,
  jobdeckFastify,
  type CallerIdentity,
  type JobdeckHandler,
} from 'jobdeck/server';
import { loadTasks } from '../../src/jobs/registry.ts';
import { ROOT } from '../helpers/cli.ts';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/db.ts';
import {
  closeHeaderSubscriptions,
  graphqlAt,
  openEventStream,
  subscribeWithHeaders,
  upgradeStatus,
} from '../helpers/mount.ts';
import { registerTasks } from '../helpers/worker.ts';

let t: TestDatabase;
let jobdeck: Jobdeck;
const jobs: Record<'alice' | 'bob' | 'globex', string> = { alice: '', bob: '', globex: '' };

/** The application's own sessions: a cookie names one; jobdeck never sees a token. */
const SESSIONS: Record<string, CallerIdentity> = {
  'alice-session': { userId: 'alice', orgId: 'acme', role: 'user' },
  'bob-session': { userId: 'bob', orgId: 'acme', role: 'user' },
  'boss-session': { userId: 'boss', orgId: 'acme', role: 'admin' },
  'cleo-session': { userId: 'cleo', orgId: 'acme', role: 'user' },
};
let identifyCalls = 0;
function identifyByCookie(request: FastifyRequest): CallerIdentity | null {
  identifyCalls += 1;
  const sid = /(?:^|;\s*)sid=([^;]+)/.exec(request.headers.cookie ?? '')?.[1];
  if (sid === undefined) return null;
  if (sid === 'expired') throw new Error('your session has expired; sign in again');
  const caller = SESSIONS[sid];
  if (!caller) throw new Error('unknown session');
  return caller;
}
const as = (sid: string) => ({ cookie: `theme=dark; sid=${sid}` });
const JOB_IDS = `{ jobs { nodes { id } } }`;
const idsOf = (res: { data?: { jobs: { nodes: { id: string }[] } } | null }) =>
  res.data!.jobs.nodes.map((job) => job.id).sort();

beforeAll(async () => {
  t = await createTestDatabase();
  await registerTasks(t, await loadTasks(path.join(ROOT, 'tasks')));
  jobdeck = createJobdeck({ connectionString: t.url });
  const later = new Date(Date.now() + 3_600_000);
  const report = { reportType: 'quotes', format: 'csv' };
  for (const [name, ownerId, orgId] of [
    ['alice', 'alice', 'acme'],
    ['bob', 'bob', 'acme'],
    ['globex', 'alice', 'globex'],
  ] as const)
    jobs[name] = (
      await jobdeck.enqueueJob('export_report', report, { ownerId, orgId, runAt: later })
    ).id;
});

afterEach(closeHeaderSubscriptions);

afterAll(async () => {
  await jobdeck?.close();
  await t?.drop();
});

/** Bumps a job's progress until `seen()` holds: live streams give no "subscribed" signal. */
async function changeUntil(id: string, seen: () => boolean): Promise<void> {
  let progress = 0;
  await waitFor(
    async () => {
      progress = (progress % 99) + 1;
      await t.pool.query('update jobdeck.jobs set progress = $2 where id = $1', [id, progress]);
      return seen();
    },
    { intervalMs: 100, what: 'a live change to arrive' },
  );
}

describe('jobdeckFastify in an application’s Fastify app', () => {
  let host: FastifyInstance;
  let origin: string;
  let base: string;

  beforeAll(async () => {
    host = Fastify();
    host.setNotFoundHandler((request, reply) =>
      reply.code(404).send({ app: 'not found', path: request.url }),
    );
    host.setErrorHandler((error, _request, reply) =>
      reply.code(500).send({ app: 'failed', message: (error as Error).message }),
    );
    host.get('/hello', async () => ({ hello: 'world' }));
    host.get('/boom', async () => {
      throw new Error('the app broke');
    });
    host.post('/echo', async (request) => request.body);
    await host.register(jobdeckFastify, {
      prefix: '/jobs-api',
      connectionString: t.url,
      // a partial configuration: jobdeck's defaults for the rest, no environment read
      config: { sseHeartbeatMs: 1000 },
      identify: identifyByCookie,
    });
    origin = await host.listen({ port: 0, host: '127.0.0.1' });
    base = `${origin}/jobs-api`;
  });
  afterAll(() => host?.close());

  it('leaves the application’s own routes, 404s, errors and bodies as they were', async () => {
    const before = identifyCalls;
    const hello = await fetch(`${origin}/hello`, {
      headers: { ...as('expired'), authorization: 'Bearer not-a-jwt' },
    });
    expect([hello.status, await hello.json()]).toEqual([200, { hello: 'world' }]);
    expect(await (await fetch(`${origin}/nope`)).json()).toEqual({
      app: 'not found',
      path: '/nope',
    });
    const boom = await fetch(`${origin}/boom`);
    expect([boom.status, await boom.json()]).toEqual([
      500,
      { app: 'failed', message: 'the app broke' },
    ]);
    // jobdeck refuses bodies nested this deep; the application's routes are not jobdeck's
    const deep = '['.repeat(100) + ']'.repeat(100);
    const echo = await fetch(`${origin}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: deep,
    });
    expect([echo.status, JSON.stringify(await echo.json())]).toEqual([200, deep]);
    expect(identifyCalls).toBe(before);
    // under the prefix, jobdeck's own 404 and metrics (which never saw the application's routes)
    const missing = await fetch(`${base}/nope`);
    expect(await missing.json()).toEqual({
      error: 'not_found',
      message: 'no route GET /jobs-api/nope',
    });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('method="GET",route="unmatched",status="404"');
    expect(metrics).not.toMatch(/route="\/(hello|boom|echo)"/);
  });

  it('applies row-level security to the application’s users over GraphQL', async () => {
    const graphql = `${base}/graphql`;
    expect(idsOf(await graphqlAt(graphql, JOB_IDS, { headers: as('alice-session') }))).toEqual([
      jobs.alice,
    ]);
    expect(idsOf(await graphqlAt(graphql, JOB_IDS, { headers: as('bob-session') }))).toEqual([
      jobs.bob,
    ]);
    expect(idsOf(await graphqlAt(graphql, JOB_IDS, { headers: as('boss-session') }))).toEqual(
      [jobs.alice, jobs.bob].sort(),
    );
    // no session: anonymous, as a request without a token is
    expect(idsOf(await graphqlAt(graphql, JOB_IDS))).toEqual([]);
  });

  it('answers 401 with the application’s reason when identify throws', async () => {
    const refused = await graphqlAt(`${base}/graphql`, JOB_IDS, { headers: as('expired') });
    expect(refused.status).toBe(401);
    expect(refused.errors![0]!.message).toBe(
      'not signed in: your session has expired; sign in again',
    );
    const rest = await fetch(`${base}/v1/jobs`, { headers: as('expired') });
    expect([rest.status, await rest.json()]).toEqual([
      401,
      { error: 'unauthorized', message: 'not signed in: your session has expired; sign in again' },
    ]);
    // no session at all: REST and event streams say where to sign in
    const anonymous = await fetch(`${base}/v1/jobs/events`);
    expect([anonymous.status, await anonymous.json()]).toEqual([
      401,
      { error: 'unauthorized', message: 'sign in to the application first' },
    ]);
    const session = await (await fetch(`${base}/session`, { headers: as('expired') })).json();
    expect(session).toMatchObject({ auth: 'application', identity: null });
    expect(await upgradeStatus(`${base.replace(/^http/, 'ws')}/graphql`, as('expired'))).toBe(401);
  });

  it('signs download links with the database’s secret, checked without the application’s session', async () => {
    const job = await jobdeck.enqueueJob(
      'export_report',
      { reportType: 'quotes', format: 'csv' },
      { ownerId: 'alice', orgId: 'acme', runAt: new Date(Date.now() + 3_600_000) },
    );
    await t.pool.query(
      `update jobdeck.jobs set status = 'succeeded', finished_at = now(), progress = 100,
              result = '{"downloadUrl": "/api/v1/exports/mounted-none.csv"}' where id = $1`,
      [job.id],
    );
    try {
      const status = (await (
        await fetch(`${base}/v1/jobs/${job.id}/status`, { headers: as('alice-session') })
      ).json()) as { job: { result: { downloadUrl: string } } };
      const link = status.job.result.downloadUrl;
      expect(link).toMatch(
        /^\/api\/v1\/exports\/mounted-none\.csv\?job=.*&user=alice&org=acme&.*sig=/,
      );
      const path = link.replace('/api/v1/exports/', '/jobs-api/api/v1/exports/');
      // identify is not asked (it would refuse this expired session): the signature decides;
      // the link checks out and the job is alice's, only the file was never written
      const before = identifyCalls;
      const served = await fetch(`${origin}${path}`, { headers: as('expired') });
      expect([served.status, await served.json()]).toEqual([
        404,
        { error: 'not_found', message: 'export mounted-none.csv is no longer available' },
      ]);
      expect(identifyCalls).toBe(before);
      const forged = await fetch(`${origin}${path.replace('user=alice', 'user=bob')}`);
      expect(forged.status).toBe(403);
      // without a signature the application's session is needed, as before
      const bare = await fetch(`${origin}${path.split('?')[0]}`);
      expect(bare.status).toBe(401);
    } finally {
      await t.pool.query('delete from jobdeck.jobs where id = $1', [job.id]);
    }
  });

  it('answers 404 to a websocket upgrade on a path under the prefix that has none', async () => {
    const ws = base.replace(/^http/, 'ws');
    expect(await upgradeStatus(`${ws}/nowhere`, as('alice-session'))).toBe(404);
    expect(await upgradeStatus(`${ws}/graphql/extra`, as('alice-session'))).toBe(404);
    expect(await upgradeStatus(`${ws}/graphql?x=1`, as('alice-session'))).toBe(101);
  });

  it('serves the REST routes and event streams under the prefix, as the cookie’s user', async () => {
    const mine = await fetch(`${base}/v1/jobs/${jobs.alice}/status`, {
      headers: as('alice-session'),
    });
    expect(mine.status).toBe(200);
    expect(((await mine.json()) as { job: { userId: string } }).job.userId).toBe('alice');
    const theirs = await fetch(`${base}/v1/jobs/${jobs.alice}/status`, {
      headers: as('bob-session'),
    });
    expect(theirs.status).toBe(404);
    const stream = await openEventStream(
      `${base}/v1/jobs/${jobs.alice}/events`,
      as('alice-session'),
    );
    try {
      expect(stream.status).toBe(200);
      await stream.next((e) => e.event === 'job');
      await t.pool.query('update jobdeck.jobs set progress = 42 where id = $1', [jobs.alice]);
      await stream.next((e) => e.event === 'job' && e.data['progress'] === 42);
    } finally {
      stream.close();
    }
  });

  it('keeps a batch’s event stream open for a session without an end', async () => {
    // A session without `expiresAt` ends at the end of time, past setTimeout's range (a timer
    // that far fires at once): the stream must not say "expired" the moment it opens.
    const batch = await jobdeck.enqueueBatch(
      [
        {
          type: 'export_report',
          payload: { reportType: 'quotes', format: 'csv' },
          runAt: new Date(Date.now() + 3_600_000),
        },
      ],
      { ownerId: 'cleo', orgId: 'acme' },
    );
    const stream = await openEventStream(
      `${base}/api/v2/batches/${batch.id}/events`,
      as('cleo-session'),
    );
    try {
      expect(stream.status).toBe(200);
      await stream.next((e) => e.event === 'batch');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(stream.events.map((e) => e.event)).toEqual(['batch']);
    } finally {
      stream.close();
      await jobdeck.cancelBatch(batch.id);
    }
  });

  it('pushes GraphQL subscriptions to a websocket identified by its upgrade’s cookie', async () => {
    const url = `${base.replace(/^http/, 'ws')}/graphql`;
    const mine = subscribeWithHeaders<{ jobUpdated: { id: string; progress: number } }>(
      url,
      'subscription($id: UUID!) { jobUpdated(id: $id) { id progress } }',
      { headers: as('alice-session'), variables: { id: jobs.alice } },
    );
    const org = subscribeWithHeaders<{ orgJobsChanged: { id: string } }>(
      url,
      'subscription { orgJobsChanged { id } }',
      { headers: as('boss-session') },
    );
    await changeUntil(jobs.alice, () => mine.events.length > 0 && org.events.length > 0);
    expect(mine.errors).toEqual([]);
    expect(mine.events[0]!.jobUpdated.id).toBe(jobs.alice);
    expect(org.events.every((e) => e.orgJobsChanged.id === jobs.alice)).toBe(true);
    // no cookie: anonymous, and subscriptions need a signed-in user
    const anonymous = subscribeWithHeaders(url, 'subscription { myJobsChanged { id } }');
    await waitFor(() => anonymous.errors.length > 0, {
      what: 'the anonymous subscription to fail',
    });
    expect(JSON.stringify(anonymous.errors)).toMatch(/sign in first/);
  });

  it('serves the dashboard with every URL under the prefix, in application-session mode', async () => {
    const root = await fetch(`${base}/`, { redirect: 'manual' });
    expect(root.headers.get('location')).toBe('/jobs-api/ui/');
    const page = await fetch(`${base}/ui/jobs/00000000-0000-4000-8000-000000000000`);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    const urls = [
      ...[...html.matchAll(/\s(?:src|href)="(\/[^"]*)"/g)].map((m) => m[1]!),
      ...Object.values(
        (
          JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(html)![1]!) as {
            imports: Record<string, string>;
          }
        ).imports,
      ),
    ];
    expect(urls).toEqual(
      expect.arrayContaining(['/jobs-api/app.js', '/jobs-api/vendor/preact.js']),
    );
    for (const url of urls) {
      expect(url.startsWith('/jobs-api/'), url).toBe(true);
      expect((await fetch(`${origin}${url}`)).status, url).toBe(200);
    }
    expect((await fetch(`${base}/vendor/preact.js`)).headers.get('content-type')).toMatch(
      /javascript/,
    );
    // the page learns it needs no token, and who the session is
    expect(await (await fetch(`${base}/session`, { headers: as('boss-session') })).json()).toEqual({
      auth: 'application',
      devSignin: false,
      identity: { userId: 'boss', orgId: 'acme', role: 'admin', permissions: null },
    });
    // no development tokens where the application identifies its users
    expect((await fetch(`${base}/dev/token`, { method: 'POST' })).status).toBe(404);
    const graphiql = await (await fetch(`${base}/graphiql`)).text();
    const ruru = /"(\/jobs-api\/ruru-static\/[^"]+\.js)"/.exec(graphiql)![1]!;
    expect((await fetch(`${origin}${ruru}`)).status).toBe(200);
    expect(graphiql).toContain('/jobs-api/graphql');
    const openapi = (await (await fetch(`${base}/openapi.json`)).json()) as { servers: unknown };
    expect(openapi.servers).toEqual([{ url: '/jobs-api' }]);
  });
});

describe('createJobdeckHandler in a plain node:http server', () => {
  let handler: JobdeckHandler;
  let server: Server;
  let origin: string;
  const byHeader = (request: FastifyRequest): CallerIdentity | null => {
    const user = request.headers['x-app-user'];
    return typeof user === 'string' ? { userId: user, orgId: 'acme', role: 'user' } : null;
  };

  beforeAll(async () => {
    handler = await createJobdeckHandler({
      prefix: '/jobs/',
      connectionString: t.url,
      identify: byHeader,
    });
    server = createServer((request, response) => {
      if (handler.handle(request, response)) return;
      response.writeHead(200, { 'content-type': 'text/plain' }).end(`the app: ${request.url}`);
    });
    server.on('upgrade', (request, socket, head) => {
      if (!handler.handleUpgrade(request, socket, head)) socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await handler?.close();
  });

  it('leaves paths outside the prefix to the application', async () => {
    expect(handler.prefix).toBe('/jobs');
    for (const url of ['/', '/other', '/jobsx/graphql'])
      expect(await (await fetch(`${origin}${url}`)).text()).toBe(`the app: ${url}`);
    expect((await fetch(`${origin}/jobs/healthz`)).status).toBe(200);
  });

  it('answers GraphQL queries and subscriptions as the application’s user', async () => {
    const alice = { 'x-app-user': 'alice' };
    expect(idsOf(await graphqlAt(`${origin}/jobs/graphql`, JOB_IDS, { headers: alice }))).toEqual([
      jobs.alice,
    ]);
    const live = subscribeWithHeaders<{ myJobsChanged: { id: string } }>(
      `${origin.replace(/^http/, 'ws')}/jobs/graphql`,
      'subscription { myJobsChanged { id } }',
      { headers: alice },
    );
    await changeUntil(jobs.alice, () => live.events.length > 0);
    expect(live.events[0]!.myJobsChanged.id).toBe(jobs.alice);
  });
});

describe('jobdeckFastify next to the application’s own @fastify/websocket', () => {
  it('shares it: the application’s websocket route and jobdeck’s subscriptions both work', async () => {
    const host = Fastify();
    try {
      await host.register(websocket);
      host.get('/chat', { websocket: true }, (socket) => {
        socket.on('message', (message: Buffer) => socket.send(`echo ${message.toString()}`));
      });
      await host.register(jobdeckFastify, {
        prefix: '/jobs-api',
        connectionString: t.url,
        identify: identifyByCookie,
      });
      const ws = (await host.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws');
      const chat = new WebSocket(`${ws}/chat`);
      const reply = new Promise<string>((resolve) =>
        chat.on('message', (m: Buffer) => resolve(m.toString())),
      );
      chat.on('open', () => chat.send('hi'));
      expect(await reply).toBe('echo hi');
      chat.close();
      const live = subscribeWithHeaders<{ jobUpdated: { id: string } }>(
        `${ws}/jobs-api/graphql`,
        'subscription($id: UUID!) { jobUpdated(id: $id) { id } }',
        { headers: as('alice-session'), variables: { id: jobs.alice } },
      );
      await changeUntil(jobs.alice, () => live.events.length > 0);
      expect(live.errors).toEqual([]);
      await live.close();
    } finally {
      await host.close();
    }
  });
});
