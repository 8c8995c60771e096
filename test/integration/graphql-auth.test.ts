import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Jobdeck } from '../../src/client.ts';
import { secretKey } from '../../src/auth/tokens.ts';
import { loadJobChannels } from '../../src/live/channels.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import { TEST_JWT_SECRET, gql, subscribe, tenantTokens, tokenFor } from '../helpers/api.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { waitFor, type TestDatabase } from '../helpers/db.ts';

let t: TestDatabase;
let jobdeck: Jobdeck;
let server: JobdeckServer;
const tokens: Record<string, string> = {};
let aliceJob: string;
let bobJob: string;
let globexJob: string;

const REPORT = { reportType: 'quotes', format: 'csv' };
const LATER = () => new Date(Date.now() + 3_600_000);

const bed = useApiTestbed();

beforeAll(async () => {
  ({ t, jobdeck, server } = bed);
  // alice at another organisation (aliceAtGlobex): the same user id must not cross organisations
  Object.assign(tokens, await tenantTokens());
  aliceJob = (
    await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'alice',
      orgId: 'acme',
      runAt: LATER(),
    })
  ).id;
  bobJob = (
    await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'bob',
      orgId: 'acme',
      runAt: LATER(),
    })
  ).id;
  globexJob = (
    await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'alice',
      orgId: 'globex',
      runAt: LATER(),
    })
  ).id;
});

const visibleIds = async (token: string) => {
  const res = await gql<{
    jobs: {
      totalCount: number;
      nodes: { id: string }[];
      aggregates: { distinctCount: { id: string } };
    };
    activeJobs: { nodes: { id: string }[] };
    jobStats: { byStatus: { queued: number } };
  }>(
    server,
    `{ jobs { totalCount nodes { id } aggregates { distinctCount { id } } }
       activeJobs { nodes { id } } jobStats }`,
    { token },
  );
  expect(res.errors).toBeUndefined();
  const data = res.data!;
  const ids = data.jobs.nodes.map((job) => job.id).sort();
  // every read agrees: list, count, aggregate, active jobs and stats
  expect(data.jobs.totalCount).toBe(ids.length);
  expect(Number(data.jobs.aggregates.distinctCount.id)).toBe(ids.length);
  expect(data.activeJobs.nodes.map((job) => job.id).sort()).toEqual(ids);
  expect(data.jobStats.byStatus.queued).toBe(ids.length);
  return ids;
};

// What another tenant gets on every surface (byte for byte what a missing job gets), bad tokens,
// live changes across tenants: isolation.test.ts.
describe('row-level security', () => {
  it('shows a user their own jobs, an admin their organisation’s, nobody another organisation’s', async () => {
    expect(await visibleIds(tokens['alice']!)).toEqual([aliceJob]);
    expect(await visibleIds(tokens['bob']!)).toEqual([bobJob]);
    expect(await visibleIds(tokens['acmeAdmin']!)).toEqual([aliceJob, bobJob].sort());
    expect(await visibleIds(tokens['globexAdmin']!)).toEqual([globexJob]);
    expect(await visibleIds(tokens['aliceAtGlobex']!)).toEqual([globexJob]);
  });

  it('lets an org admin cancel a member’s job', async () => {
    const job = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'bob',
      orgId: 'acme',
      runAt: LATER(),
    });
    const own = await gql<{ cancelJob: { job: { status: string } } }>(
      server,
      `mutation($id: UUID!) { cancelJob(input: { id: $id }) { job { status } } }`,
      { token: tokens['acmeAdmin']!, variables: { id: job.id } },
    );
    expect(own.errors).toBeUndefined();
    expect(own.data!.cancelJob.job.status).toBe('cancelled');
  });

  it('applies the permissions a token lists (seed 004: create, view, cancel, retry)', async () => {
    const viewer = await tokenFor('alice', 'acme', { permissions: ['jobs.view_jobs'] });
    expect(await visibleIds(viewer)).toEqual([aliceJob]);
    const cancel = await gql(
      server,
      `mutation($id: UUID!) { cancelJob(input: { id: $id }) { job { id } } }`,
      { token: viewer, variables: { id: aliceJob } },
    );
    expect(cancel.errors![0]).toMatchObject({
      message: 'permission denied: your token lacks jobs.cancel_jobs',
      extensions: { code: 'FORBIDDEN' },
    });
    const create = await gql(
      server,
      `mutation { enqueueJob(input: { type: "export_report", payload: {} }) { job { id } } }`,
      { token: viewer },
    );
    expect(create.errors![0]!.message).toMatch(/lacks jobs.create_jobs/);
    const creatorOnly = await tokenFor('alice', 'acme', { permissions: ['jobs.create_jobs'] });
    const list = await gql<{ jobs: { totalCount: number } }>(server, `{ jobs { totalCount } }`, {
      token: creatorOnly,
    });
    expect(list.data!.jobs.totalCount).toBe(0);
  });

  it('shows anonymous callers nothing and lets them do nothing', async () => {
    const read = await gql<{ jobs: { totalCount: number }; activeJobs: { totalCount: number } }>(
      server,
      `{ jobs { totalCount } activeJobs { totalCount } }`,
    );
    expect(read.status).toBe(200);
    expect(read.data).toEqual({ jobs: { totalCount: 0 }, activeJobs: { totalCount: 0 } });
    const enqueue = await gql(
      server,
      `mutation { enqueueJob(input: { type: "export_report", payload: {} }) { job { id } } }`,
    );
    expect(enqueue.errors![0]).toMatchObject({
      message: 'sign in first: this needs a bearer token',
      extensions: { code: 'FORBIDDEN' },
    });
    const cancel = await gql(
      server,
      `mutation($id: UUID!) { cancelJob(input: { id: $id }) { job { id } } }`,
      { variables: { id: aliceJob } },
    );
    expect(cancel.errors![0]!.extensions!['code']).toBe('FORBIDDEN');
  });
});

describe('hardening (review findings)', () => {
  it('treats an empty permissions list as no permissions', async () => {
    const none = await tokenFor('alice', 'acme', { permissions: [] });
    const list = await gql<{ jobs: { totalCount: number } }>(server, '{ jobs { totalCount } }', {
      token: none,
    });
    expect(list.data!.jobs.totalCount).toBe(0);
    const create = await gql(
      server,
      `mutation { enqueueJob(input: { type: "export_report", payload: {} }) { job { id } } }`,
      { token: none },
    );
    expect(create.errors![0]!.extensions!['code']).toBe('FORBIDDEN');
  });

  it('scopes SQL callers whose login role is a member of an API role (fails closed)', async () => {
    const role = `jobdeck_test_member_${process.pid}`;
    await t.pool.query(`create role ${role} login in role jobdeck_user`);
    // Each statement in its own transaction, as the member role with claims of its own choosing.
    const asMember = async (statement: string, values: unknown[] = []) => {
      const client = await t.pool.connect();
      try {
        await client.query('begin');
        await client.query(`set local role ${role}`);
        await client.query(
          `select set_config('jwt.claims.sub', 'mallory', true), set_config('jwt.claims.org', 'acme', true)`,
        );
        return await client.query(statement, values);
      } finally {
        await client.query('rollback');
        client.release();
      }
    };
    try {
      await expect(asMember('select jobdeck.cancel_job($1)', [bobJob])).rejects.toThrow(
        /permission denied: role jobdeck_test_member_\d+ may not act on jobdeck jobs/,
      );
      await expect(
        asMember(
          `select jobdeck.enqueue('export_report', '{}', owner_id => 'alice', org_id => 'acme')`,
        ),
      ).rejects.toThrow(/permission denied for function enqueue/);
      const seen = await asMember('select count(*)::int as n from jobdeck.jobs');
      expect(seen.rows[0].n).toBe(0);
    } finally {
      await t.pool.query(`drop role ${role}`);
    }
    expect((await jobdeck.getJob(bobJob)).status).not.toBe('cancelled');
  });

  it('refuses ids with control characters, so per-user key spaces cannot collide', async () => {
    const sneaky = await new SignJWT({ sub: 'b\u001fc', org: 'a' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(secretKey(TEST_JWT_SECRET));
    const res = await gql(server, '{ jobs { totalCount } }', { token: sneaky });
    expect(res.status).toBe(401);
    expect(res.errors![0]!.message).toMatch(/control characters/);
  });

  it('delivers no event of another organisation whose channel name an id imitates', async () => {
    const longOrg = `org-${'x'.repeat(60)}`;
    const hashed = (await loadJobChannels(t.pool)).org(longOrg).slice('jobdeck:org:'.length);
    const imitator = await tokenFor('mallory', hashed, { role: 'admin' });
    const sub = await subscribe<{ orgJobsChanged: { id: string } }>(
      server,
      `subscription { orgJobsChanged { id } }`,
      { token: imitator },
    );
    const marker = await subscribe<{ orgJobsChanged: { id: string } }>(
      server,
      `subscription { orgJobsChanged { id } }`,
      { token: await tokenFor('root', longOrg, { role: 'admin' }) },
    );
    const job = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'victim',
      orgId: longOrg,
      runAt: LATER(),
    });
    await marker.next((e) => e.orgJobsChanged.id === job.id);
    expect(sub.events).toEqual([]);
  });

  it('keeps maintenance types, extreme priorities and attempt counts out of API enqueues', async () => {
    const alice = tokens['alice']!;
    const enqueue = (input: Record<string, unknown>) =>
      gql(
        server,
        `mutation($input: EnqueueJobInput!) { enqueueJob(input: $input) { job { id } } }`,
        {
          token: alice,
          variables: { input },
        },
      );
    const prune = await enqueue({ type: 'prune_jobs', payload: {} });
    expect(prune.errors![0]).toMatchObject({
      message: 'job type "prune_jobs" cannot be enqueued through the API',
      extensions: { code: 'FORBIDDEN' },
    });
    const urgent = await enqueue({ type: 'export_report', payload: REPORT, priority: -32768 });
    expect(urgent.errors![0]!.message).toMatch(/priority must be from -20/);
    const attempts = await enqueue({ type: 'export_report', payload: REPORT, maxAttempts: 1000 });
    expect(attempts.errors![0]!.message).toMatch(/max_attempts must be from 1 to 25/);
    // trusted callers still can
    const trusted = await jobdeck.enqueueJob('prune_jobs', {}, { runAt: LATER() });
    expect(trusted.type).toBe('prune_jobs');
  });

  it('ends a subscription when its token expires', async () => {
    // Long enough for the subscription to start on a busy machine (a token already expired at
    // the start is refused instead, a different path), short enough to wait for.
    const shortLived = await tokenFor('alice', 'acme', { ttlSeconds: 4 });
    const sub = await subscribe<{ myJobsChanged: { kind: string } }>(
      server,
      `subscription { myJobsChanged { kind } }`,
      { token: shortLived },
    );
    const last = await sub.next((e) => e.myJobsChanged.kind === 'EXPIRED', { timeoutMs: 20_000 });
    expect(last.myJobsChanged.kind).toBe('EXPIRED');
    await waitFor(() => server.changes.activeSubscriptions === 0, { what: 'the stream to end' });
  });

  it('answers values nested thousands deep with 400, and matches ids in any UUID spelling', async () => {
    // built as text: JSON.stringify itself would run out of stack on it
    const deepPayload = `${'{"a":'.repeat(5000)}{}${'}'.repeat(5000)}`;
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens['alice']!}` },
      body: `{"query":"mutation($p: JSON!) { enqueueJob(input: { type: \\"export_report\\", payload: $p }) { job { id } } }","variables":{"p":${deepPayload}}}`,
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: { message: string }[] };
    expect(body.errors[0]!.message).toMatch(/nest objects or arrays more than 64 deep/);
    const literal = `{ jobs(filter: ${'{ and: ['.repeat(100)}{}${'] }'.repeat(100)}) { totalCount } }`;
    const doc = await gql(server, literal, { token: tokens['alice']! });
    expect(doc.status).toBe(400);
    expect(doc.errors![0]!.message).toMatch(/nests brackets more than 64 deep/);

    const job = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'alice',
      orgId: 'acme',
      runAt: LATER(),
    });
    const upper = await subscribe<{ jobUpdated: { id: string; status: string } }>(
      server,
      `subscription($id: UUID!) { jobUpdated(id: $id) { id status } }`,
      { token: tokens['alice']!, variables: { id: job.id.toUpperCase() } },
    );
    await jobdeck.cancelJob(job.id);
    await upper.next((e) => e.jobUpdated.status === 'cancelled');
  });
});
