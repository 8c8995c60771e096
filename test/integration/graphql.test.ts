import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Jobdeck } from '../../src/client.ts';
import { startServer, type JobdeckServer } from '../../src/http/server.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { TEST_JWT_SECRET, gql, startTestServer, tokenFor } from '../helpers/api.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { runTestWorker, testConfig } from '../helpers/worker.ts';

let t: TestDatabase;
let jobdeck: Jobdeck;
let server: JobdeckServer;
let tasks: TaskRegistry;
let alice: string;

const REPORT = { reportType: 'quotes', format: 'csv' };

const bed = useApiTestbed();

beforeAll(async () => {
  ({ t, jobdeck, server, tasks } = bed);
  alice = await tokenFor('alice', 'acme');
});

describe('the GraphQL schema', () => {
  it('exposes only the jobdeck API, keeps id as id, and has no generic CRUD mutations', async () => {
    const res = await gql<{
      __schema: {
        queryType: { fields: { name: string }[] };
        mutationType: { fields: { name: string }[] };
        subscriptionType: { fields: { name: string }[] };
        types: { name: string }[];
      };
      __type: { fields: { name: string }[] };
    }>(
      server,
      `{ __schema {
           queryType { fields { name } } mutationType { fields { name } }
           subscriptionType { fields { name } } types { name } }
         __type(name: "Job") { fields { name } } }`,
      { token: alice },
    );
    expect(res.errors).toBeUndefined();
    const schema = res.data!.__schema;
    const names = (list: { name: string }[]) => list.map((f) => f.name).sort();
    expect(names(schema.queryType.fields)).toEqual(
      [
        'activeJobs',
        'batch',
        'batches',
        'job',
        'jobStats',
        'jobs',
        'pauses',
        'query',
        'jobTemplate',
        'jobTemplates',
        // the dashboard's: a job by id or key; operators only, like pauses
        'findJobs',
        'queues',
        'workers',
        'cronSchedules',
      ].sort(),
    );
    // The pause mutations are there for everyone to see, and refuse all but operators.
    expect(names(schema.mutationType.fields)).toEqual(
      [
        'cancelBatch',
        'cancelJob',
        'enqueueJob',
        'enqueueJobGraph',
        'enqueueFromTemplate',
        'retryJob',
        'deleteJob',
        'pauseQueue',
        'resumeQueue',
        'pauseTaskType',
        'resumeTaskType',
        'pauseAll',
        'resumeAll',
      ].sort(),
    );
    expect(names(schema.subscriptionType.fields)).toEqual([
      'batchUpdated',
      'jobUpdated',
      'myJobsChanged',
      'orgJobsChanged',
    ]);
    const jobFields = names(res.data!.__type.fields);
    expect(jobFields).toContain('id');
    expect(jobFields).not.toContain('rowId');
    expect(jobFields).not.toContain('gwJobId');
    expect(jobFields).toEqual(expect.arrayContaining(['events', 'attemptHistory', 'progress']));
    // WorkerProcess is jobdeck's own read of its worker processes (operators only), not a table
    const typeNames = schema.types
      .map((type) => type.name.toLowerCase())
      .filter((name) => name !== 'workerprocess')
      .join(' ');
    expect(typeNames).not.toMatch(/graphile|worker|private|tasktype|setting/);
  });

  it('answers /healthz and serves GraphiQL outside production', async () => {
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const graphiql = await fetch(`${server.url}/graphiql`);
    expect(graphiql.status).toBe(200);
    expect(await graphiql.text()).toMatch(/<html/i);
  });

  it('serves no GraphiQL when it is turned off (the production default)', async () => {
    const production = await startTestServer(t, {
      graphiql: false,
      production: true,
      devSignin: false,
    });
    try {
      expect((await fetch(`${production.url}/graphiql`)).status).toBe(404);
      expect((await fetch(`${production.url}/healthz`)).status).toBe(200);
    } finally {
      await production.close();
    }
  });
});

describe('queries', () => {
  let ids: { a1: string; a2: string; bob: string; other: string };

  beforeAll(async () => {
    const a1 = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'alice',
      orgId: 'acme',
    });
    const a2 = await jobdeck.enqueueJob(
      'import_file',
      { filename: 'people.csv' },
      { ownerId: 'alice', orgId: 'acme', runAt: new Date(Date.now() + 3_600_000) },
    );
    const bob = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'bob',
      orgId: 'acme',
    });
    const other = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'alice',
      orgId: 'globex',
    });
    await jobdeck.cancelJob(a1.id, 'not needed');
    ids = { a1: a1.id, a2: a2.id, bob: bob.id, other: other.id };
  });

  it('lists only the caller’s jobs in their organisation, with totalCount and filters', async () => {
    const res = await gql<{
      all: { totalCount: number; nodes: { id: string; ownerId: string; orgId: string }[] };
      cancelled: { totalCount: number; nodes: { id: string }[] };
      imports: { nodes: { id: string }[] };
      searched: { nodes: { id: string }[] };
      recent: { totalCount: number };
    }>(
      server,
      `query($since: Datetime!) {
         all: jobs(orderBy: CREATED_AT_ASC) { totalCount nodes { id ownerId orgId } }
         cancelled: jobs(filter: { status: { equalTo: "cancelled" } }) { totalCount nodes { id } }
         imports: jobs(condition: { type: "import_file" }) { nodes { id } }
         searched: jobs(filter: { type: { includesInsensitive: "EXPORT" } }) { nodes { id } }
         recent: jobs(filter: { createdAt: { greaterThanOrEqualTo: $since } }) { totalCount }
       }`,
      { token: alice, variables: { since: new Date(Date.now() - 60_000).toISOString() } },
    );
    expect(res.errors).toBeUndefined();
    const data = res.data!;
    expect(data.all.totalCount).toBe(2);
    expect(data.all.nodes.map((job) => job.id)).toEqual([ids.a1, ids.a2]);
    expect(data.all.nodes.every((job) => job.ownerId === 'alice' && job.orgId === 'acme')).toBe(
      true,
    );
    expect(data.cancelled.nodes.map((job) => job.id)).toEqual([ids.a1]);
    expect(data.imports.nodes.map((job) => job.id)).toEqual([ids.a2]);
    expect(data.searched.nodes.map((job) => job.id)).toEqual([ids.a1]);
    expect(data.recent.totalCount).toBe(2);
  });

  it('pages with cursors', async () => {
    const first = await gql<{
      jobs: { nodes: { id: string }[]; pageInfo: { hasNextPage: boolean; endCursor: string } };
    }>(
      server,
      `{ jobs(first: 1, orderBy: CREATED_AT_DESC) { nodes { id } pageInfo { hasNextPage endCursor } } }`,
      { token: alice },
    );
    expect(first.data!.jobs.nodes.map((job) => job.id)).toEqual([ids.a2]);
    expect(first.data!.jobs.pageInfo.hasNextPage).toBe(true);
    const second = await gql<{
      jobs: { nodes: { id: string }[]; pageInfo: { hasNextPage: boolean } };
    }>(
      server,
      `query($after: Cursor) { jobs(first: 1, after: $after, orderBy: CREATED_AT_DESC) {
         nodes { id } pageInfo { hasNextPage } } }`,
      { token: alice, variables: { after: first.data!.jobs.pageInfo.endCursor } },
    );
    expect(second.data!.jobs.nodes.map((job) => job.id)).toEqual([ids.a1]);
    expect(second.data!.jobs.pageInfo.hasNextPage).toBe(false);
  });

  it('reads activeJobs, aggregates by status, and stats scoped to the caller', async () => {
    const res = await gql<{
      activeJobs: { totalCount: number; nodes: { id: string; status: string }[] };
      jobs: {
        aggregates: { distinctCount: { type: string } };
        groupedAggregates: { keys: string[]; distinctCount: { id: string } }[];
      };
      jobStats: { byStatus: Record<string, number> };
    }>(
      server,
      `{ activeJobs { totalCount nodes { id status } }
         jobs { aggregates { distinctCount { type } }
                groupedAggregates(groupBy: STATUS) { keys distinctCount { id } } }
         jobStats }`,
      { token: alice },
    );
    expect(res.errors).toBeUndefined();
    const data = res.data!;
    expect(data.activeJobs.nodes).toEqual([{ id: ids.a2, status: 'queued' }]);
    expect(Number(data.jobs.aggregates.distinctCount.type)).toBe(2);
    const groups = Object.fromEntries(
      data.jobs.groupedAggregates.map((g) => [g.keys[0], Number(g.distinctCount.id)]),
    );
    expect(groups).toEqual({ cancelled: 1, queued: 1 });
    expect(data.jobStats.byStatus).toMatchObject({ queued: 1, cancelled: 1, running: 0 });
  });

  it('reads one job with its events and attempts', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const job = await jobdeck.enqueueJob(
        'import_file',
        { filename: 'small.csv', rows: 10, stepDelayMs: 0 },
        { ownerId: 'alice', orgId: 'acme' },
      );
      await waitForStatus(jobdeck, job.id, 'succeeded');
      const res = await gql<{
        job: {
          id: string;
          status: string;
          progress: number;
          currentStep: string;
          events: { totalCount: number; nodes: { kind: string; message: string }[] };
          attemptHistory: { nodes: { attempt: number; outcome: string; startedAt: string }[] };
        };
      }>(
        server,
        `query($id: UUID!) { job(id: $id) {
           id status progress currentStep
           events(first: 50, orderBy: ID_ASC) { totalCount nodes { kind message } }
           attemptHistory { nodes { attempt outcome startedAt } } } }`,
        { token: alice, variables: { id: job.id } },
      );
      expect(res.errors).toBeUndefined();
      const read = res.data!.job;
      expect(read).toMatchObject({ id: job.id, status: 'succeeded', progress: 100 });
      expect(read.events.nodes[0]).toEqual({ kind: 'transition', message: 'queued' });
      expect(read.events.nodes.some((e) => e.kind === 'log')).toBe(true);
      expect(read.events.nodes.at(-1)!.message).toBe('succeeded');
      expect(read.attemptHistory.nodes).toEqual([
        { attempt: 1, outcome: 'succeeded', startedAt: expect.any(String) },
      ]);
    } finally {
      await worker.stop();
    }
  });

  it('returns null for a job id that does not exist', async () => {
    const res = await gql(server, `{ job(id: "00000000-0000-4000-8000-000000000000") { id } }`, {
      token: alice,
    });
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ job: null });
  });
});

describe('mutations', () => {
  it('enqueues as the caller: owner and organisation come from the token', async () => {
    const res = await gql<{
      enqueueJob: { job: { id: string; ownerId: string; orgId: string; status: string } };
    }>(
      server,
      `mutation($payload: JSON!) { enqueueJob(input: { type: "export_report", payload: $payload, priority: -10 }) {
         job { id ownerId orgId status priority } } }`,
      { token: alice, variables: { payload: REPORT } },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.enqueueJob.job).toMatchObject({
      ownerId: 'alice',
      orgId: 'acme',
      status: 'queued',
      priority: -10,
    });
    const stored = await jobdeck.getJob(res.data!.enqueueJob.job.id);
    expect(stored).toMatchObject({ owner_id: 'alice', org_id: 'acme', type: 'export_report' });
  });

  it('has no argument through which a caller could set the owner', async () => {
    const res = await gql(
      server,
      `mutation { enqueueJob(input: { type: "export_report", payload: {}, ownerId: "bob" }) { job { id } } }`,
      { token: alice },
    );
    expect(res.status).toBe(400);
    expect(res.errors![0]!.message).toMatch(/ownerId/);
  });

  it('deduplicates keys within the caller’s own jobs only', async () => {
    const bob = await tokenFor('bob', 'acme');
    const enqueue = (token: string) =>
      gql<{ enqueueJob: { job: { id: string } } }>(
        server,
        `mutation($payload: JSON!) { enqueueJob(input: { type: "export_report", payload: $payload, key: "nightly",
           runAt: "2099-01-01T00:00:00Z" }) { job { id } } }`,
        { token, variables: { payload: REPORT } },
      );
    const first = await enqueue(alice);
    const again = await enqueue(alice);
    const bobs = await enqueue(bob);
    expect(again.data!.enqueueJob.job.id).toBe(first.data!.enqueueJob.job.id);
    expect(bobs.errors).toBeUndefined();
    expect(bobs.data!.enqueueJob.job.id).not.toBe(first.data!.enqueueJob.job.id);
  });

  it('cancels and retries the caller’s job, returning it', async () => {
    const job = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'alice',
      orgId: 'acme',
      runAt: new Date(Date.now() + 3_600_000),
    });
    const cancelled = await gql<{
      cancelJob: { job: { id: string; status: string; cancelReason: string } };
    }>(
      server,
      `mutation($id: UUID!) { cancelJob(input: { id: $id, reason: "changed my mind" }) {
         job { id status cancelReason } } }`,
      { token: alice, variables: { id: job.id } },
    );
    expect(cancelled.errors).toBeUndefined();
    expect(cancelled.data!.cancelJob.job).toEqual({
      id: job.id,
      status: 'cancelled',
      cancelReason: 'changed my mind',
    });
    const retried = await gql<{ retryJob: { job: { status: string; manualRetries: number } } }>(
      server,
      `mutation($id: UUID!) { retryJob(input: { id: $id }) { job { status manualRetries } } }`,
      { token: alice, variables: { id: job.id } },
    );
    expect(retried.errors).toBeUndefined();
    expect(retried.data!.retryJob.job).toEqual({ status: 'queued', manualRetries: 1 });
  });

  it('names the problem for bad input, without a masked error and without writing anything', async () => {
    const before = await t.pool.query('select count(*)::int as n from jobdeck.jobs');
    const cases: [string, Record<string, unknown>, RegExp, string][] = [
      [
        'unknown type',
        { type: 'no_such_task', payload: {} },
        /unknown job type "no_such_task"/,
        'BAD_USER_INPUT',
      ],
      [
        'bad payload',
        { type: 'export_report', payload: { reportType: 'quotes', format: 'pdf' } },
        /invalid payload.*format/,
        'BAD_USER_INPUT',
      ],
      [
        'payload not an object',
        { type: 'export_report', payload: [1, 2] },
        /payload/,
        'BAD_USER_INPUT',
      ],
      [
        'bad priority',
        { type: 'export_report', payload: REPORT, priority: 99999 },
        /priority/,
        'BAD_USER_INPUT',
      ],
      [
        'bad max attempts',
        { type: 'export_report', payload: REPORT, maxAttempts: 0 },
        /max_?attempts/i,
        'BAD_USER_INPUT',
      ],
      ['empty key', { type: 'export_report', payload: REPORT, key: '' }, /key/, 'BAD_USER_INPUT'],
    ];
    for (const [what, input, message, code] of cases) {
      const res = await gql(
        server,
        `mutation($input: EnqueueJobInput!) { enqueueJob(input: $input) { job { id } } }`,
        { token: alice, variables: { input } },
      );
      expect(res.errors?.[0]?.message, what).toMatch(message);
      expect(res.errors?.[0]?.message, what).not.toMatch(/logged with hash/);
      expect(res.errors?.[0]?.extensions?.['code'], what).toBe(code);
    }
    const cancelFinished = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'alice',
      orgId: 'acme',
    });
    await jobdeck.cancelJob(cancelFinished.id);
    const retryQueued = await gql(
      server,
      `mutation($id: UUID!) { cancelJob(input: { id: $id }) { job { id } } }`,
      { token: alice, variables: { id: cancelFinished.id } },
    );
    expect(retryQueued.errors).toBeUndefined();
    const badState = await gql(
      server,
      `mutation($id: UUID!) { retryJob(input: { id: $id }) { job { id } } }`,
      {
        token: alice,
        variables: {
          id: (
            await jobdeck.enqueueJob('export_report', REPORT, {
              ownerId: 'alice',
              orgId: 'acme',
              runAt: new Date(Date.now() + 3_600_000),
            })
          ).id,
        },
      },
    );
    expect(badState.errors![0]).toMatchObject({
      message: expect.stringMatching(/is queued and cannot be retried/),
      extensions: { code: 'INVALID_STATE', status: 'queued' },
    });
    const notUuid = await gql(server, `{ job(id: "not-a-uuid") { id } }`, { token: alice });
    expect(notUuid.errors![0]!.message).toMatch(/uuid/i);
    const after = await t.pool.query('select count(*)::int as n from jobdeck.jobs');
    expect(after.rows[0].n).toBe(before.rows[0].n + 2);
  });
});

describe('limits', () => {
  it('refuses queries nested too deep or selecting too many fields, naming the limit', async () => {
    const deep = await gql(
      server,
      `{ jobs { nodes { events { nodes { job { events { nodes { job { events { nodes { job { events { nodes { id } } } } } } } } } } } } } }`,
      { token: alice },
    );
    expect(deep.errors![0]!.message).toMatch(/nested \d+ levels deep; the limit is 12/);
    const aliases = Array.from({ length: 600 }, (_, i) => `a${i}: __typename`).join(' ');
    const wide = await gql(server, `{ ${aliases} }`, { token: alice });
    expect(wide.errors![0]!.message).toMatch(/selects 600 fields.*limit is 500/);
  });

  it('answers the standard introspection query (GraphiQL, codegen), but not an endless one', async () => {
    const { getIntrospectionQuery } = await import('postgraphile/graphql');
    const full = await gql<{ __schema: { types: { name: string }[] } }>(
      server,
      getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true }),
    );
    expect(full.errors).toBeUndefined();
    expect(full.data!.__schema.types.map((type) => type.name)).toContain('Job');
    const endless = await gql(
      server,
      `{ __type(name: "Job") { ${'ofType { '.repeat(25)}name${' }'.repeat(25)} } }`,
    );
    expect(endless.errors![0]!.message).toMatch(
      /the introspection in the operation is nested 27 levels deep; the limit is 20/,
    );
  });

  it('refuses introspection when JOBDECK_GRAPHQL_INTROSPECTION=false, and nothing else', async () => {
    const closed = await startTestServer(t, { graphqlIntrospection: false });
    const schema = await gql(closed, '{ __schema { queryType { name } } }', { token: alice });
    expect(schema.errors![0]!.message).toMatch(/introspection/i);
    const jobs = await gql<{ jobs: { totalCount: number } }>(closed, '{ jobs { totalCount } }', {
      token: alice,
    });
    expect(jobs.errors).toBeUndefined();
  });

  it('refuses an oversized request body with 413 and writes nothing', async () => {
    const before = await t.pool.query('select count(*)::int as n from jobdeck.jobs');
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${alice}` },
      body: JSON.stringify({
        query: `mutation($p: JSON!) { enqueueJob(input: { type: "export_report", payload: $p }) { job { id } } }`,
        variables: { p: { ...REPORT, filler: 'x'.repeat(2 * 1024 * 1024) } },
      }),
    });
    expect(response.status).toBe(413);
    const after = await t.pool.query('select count(*)::int as n from jobdeck.jobs');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('keeps working after a burst of bad requests', async () => {
    const bad = ['{', '{ jobs { nope } }', 'mutation { enqueueJob }', '{ job(id: 5) { id } }'];
    for (const query of bad) {
      const res = await gql(server, query, { token: alice });
      expect(res.status).toBe(400);
      expect(res.errors![0]!.message.length).toBeGreaterThan(0);
    }
    const ok = await gql(server, '{ jobs { totalCount } }', { token: alice });
    expect(ok.errors).toBeUndefined();
  });
});

/** A TCP proxy in front of the test database that a test can cut off and bring back. */
async function databaseProxy(target: URL) {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  const url = new URL(target);
  url.port = String(port);
  /** Refuses new connections and resets the open ones, as a database that went away. */
  const cut = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return { url: url.toString(), cut, restore: () => listen(port), close: cut };
}

describe('a database outage', () => {
  it('answers DATABASE_UNAVAILABLE (GraphQL) and 503 (REST) while it lasts, and recovers', async () => {
    const proxy = await databaseProxy(new URL(t.url));
    const own = await startServer({
      config: testConfig({ jwtSecret: TEST_JWT_SECRET, host: '127.0.0.1' }),
      connectionString: proxy.url,
      port: 0,
    });
    const query = '{ jobs { totalCount } }';
    try {
      expect((await gql(own, query, { token: alice })).errors).toBeUndefined();
      await proxy.cut();
      const during = await gql(own, query, { token: alice });
      expect(during.errors?.[0]).toMatchObject({
        message: expect.stringMatching(/database is unavailable/),
        extensions: { code: 'DATABASE_UNAVAILABLE', retryAfterSeconds: 2 },
      });
      const rest = await fetch(`${own.url}/api/v2/jobs/active`, {
        headers: { authorization: `Bearer ${alice}` },
      });
      expect(rest.status).toBe(503);
      expect(rest.headers.get('retry-after')).toBe('2');
      await proxy.restore();
      await waitFor(async () => (await gql(own, query, { token: alice })).errors === undefined, {
        what: 'GraphQL to answer again once the database is back',
      });
    } finally {
      await proxy.restore().catch(() => {});
      await own.close();
      await proxy.close();
    }
  });
});
