import { randomUUID } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Jobdeck } from '../../src/client.ts';
import type { Job } from '../../src/db/types.ts';
import { secretKey } from '../../src/auth/tokens.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import { TEST_JWT_SECRET, subscribe, tenantTokens, type TestSubscription } from '../helpers/api.ts';
import { waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { runTestWorker } from '../helpers/worker.ts';

/**
 * Authentication and tenant isolation on every surface, in one place: GraphQL queries, aggregates,
 * mutations and subscriptions, the REST routes, exports, the event streams, the admin routes.
 *
 * The rule: another tenant's job is indistinguishable from one that does not exist. Each probe is
 * run against the victim's job and against a random id nobody has; the two answers must be the
 * same status, content type and body byte for byte, once each id is replaced by `<id>` (error
 * messages name the id asked for). The victim's own token must get a different answer from the
 * same probe, so a probe that could not tell the two apart proves nothing.
 */

let t: TestDatabase;
let jobdeck: Jobdeck;
let server: JobdeckServer;

/** Who asks. `null`: no token at all. */
const tokens: Record<string, string | null> = { anonymous: null };
/** alice@acme's failed job (with events and an attempt), and her finished export. */
let aliceJob: Job;
let aliceExport: Job;
/** A job of alice at another organisation: same user id, other tenant. */
let globexJob: Job;

const REPORT = { reportType: 'quotes', format: 'csv', stepDelayMs: 0 };
const LATER = () => new Date(Date.now() + 3_600_000);

const bed = useApiTestbed();

beforeAll(async () => {
  ({ t, jobdeck, server } = bed);
  Object.assign(tokens, await tenantTokens());
  const failing = await jobdeck.enqueueJob(
    'export_report',
    { ...REPORT, reportType: 'no_such_report' },
    { ownerId: 'alice', orgId: 'acme' },
  );
  const exporting = await jobdeck.enqueueJob('export_report', REPORT, {
    ownerId: 'alice',
    orgId: 'acme',
  });
  const worker = await runTestWorker(t, bed.tasks);
  try {
    aliceJob = await waitForStatus(jobdeck, failing.id, 'failed');
    aliceExport = await waitForStatus(jobdeck, exporting.id, 'succeeded');
  } finally {
    await worker.stop();
  }
  globexJob = await jobdeck.enqueueJob('export_report', REPORT, {
    ownerId: 'alice',
    orgId: 'globex',
    runAt: LATER(),
  });
  // bob has jobs of his own, so "nothing" below is not just an empty account
  await jobdeck.enqueueJob('export_report', REPORT, {
    ownerId: 'bob',
    orgId: 'acme',
    runAt: LATER(),
  });
});

// --- observing a response ----------------------------------------------------------------------

/** What a client can see of a response. */
interface Observation {
  status: number;
  type: string;
  body: string;
}

async function observe(
  path: string,
  token: string | null,
  init: { method?: string; body?: unknown } = {},
): Promise<Observation> {
  const controller = new AbortController();
  const headers: Record<string, string> = {};
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${server.url}${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: controller.signal,
  });
  const type = response.headers.get('content-type') ?? '';
  if (type.startsWith('text/event-stream')) {
    // a stream that opened: what matters is that it did
    controller.abort();
    return { status: response.status, type, body: '<stream>' };
  }
  return { status: response.status, type, body: await response.text() };
}

/**
 * Seed 003's job socket with the token in `?token=`: a refusal as the HTTP status its close code
 * stands for (4401 → 401) with its `{error, message}`; a job it sends as status 0 and the first
 * message (the probe then closes it).
 */
function observeSocket(path: string, token: string | null): Promise<Observation> {
  const query = token ? `?token=${token}` : '';
  const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}${path}${query}`);
  let refusal = '';
  return new Promise((resolve, reject) => {
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as {
        type: string;
        error?: string;
        message?: string;
      };
      if (message.type === 'error')
        refusal = JSON.stringify({ error: message.error, message: message.message });
      else {
        ws.close();
        resolve({ status: 0, type: 'websocket', body: String(data) });
      }
    });
    ws.on('close', (code) =>
      resolve({ status: code >= 4000 ? code - 4000 : code, type: 'websocket', body: refusal }),
    );
    ws.on('error', reject);
  });
}

const graphql = (token: string | null, query: string, variables: Record<string, unknown>) =>
  observe('/graphql', token, { method: 'POST', body: { query, variables } });

/** The observation with every spelling of `id` replaced by `<id>`. */
function normalized(observation: Observation, id: string): Observation {
  let body = observation.body;
  for (const spelling of [id, id.toUpperCase(), encodeURIComponent(id)])
    body = body.replaceAll(spelling, '<id>');
  return { ...observation, body };
}

/** A probe of one job: the request a tenant would make about it. */
interface Probe {
  name: string;
  /** Who can tell a job from no job with it: admins only, or only the job's own user. */
  seenBy?: 'admin' | 'user';
  run(token: string | null, id: string): Promise<Observation>;
}

/** Reduces a list answer to whether the id is in it (list totals differ by tenant anyway). */
const listed = async (observation: Observation, id: string): Promise<Observation> => ({
  ...observation,
  body: JSON.stringify({ listed: observation.body.includes(id) }),
});

const PROBES: Probe[] = [
  // GraphQL
  {
    name: 'GraphQL job(id) with its events and attempts',
    run: (token, id) =>
      graphql(
        token,
        `
          query ($id: UUID!) {
            job(id: $id) {
              id
              status
              events {
                totalCount
              }
              attemptHistory {
                totalCount
              }
            }
          }
        `,
        { id },
      ),
  },
  {
    name: 'GraphQL jobs(filter: id) with totalCount, aggregates and groupedAggregates',
    run: (token, id) =>
      graphql(
        token,
        `
          query ($id: UUID!) {
            jobs(filter: { id: { equalTo: $id } }) {
              totalCount
              nodes {
                id
              }
              aggregates {
                distinctCount {
                  id
                }
                sum {
                  priority
                }
              }
              groupedAggregates(groupBy: [STATUS]) {
                keys
                distinctCount {
                  id
                }
              }
            }
          }
        `,
        { id },
      ),
  },
  {
    name: 'GraphQL jobs(condition: id)',
    run: (token, id) =>
      graphql(
        token,
        `
          query ($id: UUID) {
            jobs(condition: { id: $id }) {
              totalCount
            }
          }
        `,
        { id },
      ),
  },
  {
    name: 'GraphQL activeJobs(filter: id)',
    run: (token, id) =>
      graphql(
        token,
        `
          query ($id: UUID!) {
            activeJobs(filter: { id: { equalTo: $id } }) {
              totalCount
              nodes {
                id
              }
            }
          }
        `,
        { id },
      ),
  },
  {
    name: 'GraphQL cancelJob',
    run: (token, id) =>
      graphql(
        token,
        `
          mutation ($id: UUID!) {
            cancelJob(input: { id: $id, reason: "probe" }) {
              job {
                id
                status
              }
            }
          }
        `,
        { id },
      ),
  },
  {
    name: 'GraphQL retryJob',
    run: (token, id) =>
      graphql(
        token,
        `
          mutation ($id: UUID!) {
            retryJob(input: { id: $id }) {
              job {
                id
                status
              }
            }
          }
        `,
        {
          id,
        },
      ),
  },
  // REST
  { name: 'GET /v1/jobs/:id/status', run: (token, id) => observe(`/v1/jobs/${id}/status`, token) },
  { name: 'GET /api/v1/jobs/:id', run: (token, id) => observe(`/api/v1/jobs/${id}`, token) },
  {
    name: 'GET /api/v1/jobs/:id/steps',
    run: (token, id) => observe(`/api/v1/jobs/${id}/steps`, token),
  },
  { name: 'GET /jobs/:id', run: (token, id) => observe(`/jobs/${id}`, token) },
  {
    name: 'GET /jobs/:id/logs',
    run: (token, id) => observe(`/jobs/${id}/logs?limit=5`, token),
  },
  {
    name: 'GET /jobs (listed)',
    run: async (token, id) => listed(await observe('/jobs?limit=1000', token), id),
  },
  {
    name: 'POST /jobs/:id/cancel',
    run: (token, id) => observe(`/jobs/${id}/cancel`, token, { method: 'POST' }),
  },
  {
    name: 'POST /jobs/:id/retry',
    run: (token, id) => observe(`/jobs/${id}/retry`, token, { method: 'POST' }),
  },
  { name: 'WebSocket /ws/jobs/:id', run: (token, id) => observeSocket(`/ws/jobs/${id}`, token) },
  {
    name: 'POST /v1/jobs/:id/cancel',
    run: (token, id) => observe(`/v1/jobs/${id}/cancel`, token, { method: 'POST' }),
  },
  {
    name: 'POST /v1/jobs/:id/retry',
    run: (token, id) => observe(`/v1/jobs/${id}/retry`, token, { method: 'POST' }),
  },
  {
    name: 'GET /v1/jobs (listed)',
    run: async (token, id) => listed(await observe('/v1/jobs?pageSize=100', token), id),
  },
  {
    name: 'GET /v1/jobs?jobType&status (listed)',
    run: async (token, id) =>
      listed(await observe('/v1/jobs?pageSize=100&jobType=export_report&status=queued', token), id),
  },
  {
    // the widget lists the caller's own jobs, an admin's included
    name: 'GET /api/v2/jobs/active (listed)',
    seenBy: 'user',
    run: async (token, id) => listed(await observe('/api/v2/jobs/active', token), id),
  },
  // admin routes
  {
    name: 'GET /api/v1/admin/jobs (listed)',
    seenBy: 'admin',
    run: async (token, id) => listed(await observe('/api/v1/admin/jobs?page_size=100', token), id),
  },
  {
    name: 'POST /api/v1/admin/jobs/:id/retry',
    seenBy: 'admin',
    run: (token, id) => observe(`/api/v1/admin/jobs/${id}/retry`, token, { method: 'POST' }),
  },
  {
    name: 'DELETE /api/v1/admin/jobs/:id',
    seenBy: 'admin',
    run: (token, id) => observe(`/api/v1/admin/jobs/${id}`, token, { method: 'DELETE' }),
  },
  // event streams
  { name: 'GET /v1/jobs/:id/events', run: (token, id) => observe(`/v1/jobs/${id}/events`, token) },
];

/** Who attacks whose job, and who owns it (whose token must see it). */
const MATRIX = [
  { attacker: 'bob', victim: () => aliceJob, owner: 'alice', note: 'another user, same org' },
  {
    attacker: 'aliceAtGlobex',
    victim: () => aliceJob,
    owner: 'alice',
    note: 'the same user id at another org',
  },
  { attacker: 'globexAdmin', victim: () => aliceJob, owner: 'acmeAdmin', note: 'admin of org Y' },
  { attacker: 'anonymous', victim: () => aliceJob, owner: 'alice', note: 'no token' },
  { attacker: 'acmeAdmin', victim: () => globexJob, owner: 'globexAdmin', note: 'admin of org X' },
  { attacker: 'alice', victim: () => globexJob, owner: 'aliceAtGlobex', note: 'same id, org X' },
] as const;

describe('another tenant’s job answers exactly as a job that does not exist', () => {
  it.each(MATRIX)(
    '$attacker against $owner’s job ($note), on every probe',
    async ({ attacker, victim, owner }) => {
      const job = victim();
      const before = await t.pool.query('select xmin::text from jobdeck.jobs where id = $1', [
        job.id,
      ]);
      for (const probe of PROBES) {
        const missing = randomUUID();
        const theirs = normalized(await probe.run(tokens[attacker] ?? null, job.id), job.id);
        const nothing = normalized(await probe.run(tokens[attacker] ?? null, missing), missing);
        expect(theirs, `${probe.name} as ${attacker}`).toEqual(nothing);
        expect(theirs.status, `${probe.name} as ${attacker}`).toBeLessThan(500);
      }
      // and nothing of the victim's job changed
      const after = await t.pool.query('select xmin::text from jobdeck.jobs where id = $1', [
        job.id,
      ]);
      expect(after.rows).toEqual(before.rows);
      // each probe tells a job that exists from one that does not, for those who may see it (on
      // a fresh queued copy, as probes may cancel or retry what they see)
      const isAdmin = owner.endsWith('Admin');
      for (const probe of PROBES) {
        if (probe.seenBy === (isAdmin ? 'user' : 'admin')) continue;
        const copy = await copyOf(job);
        const missing = randomUUID();
        const seen = normalized(await probe.run(tokens[owner] ?? null, copy.id), copy.id);
        const nothing = normalized(await probe.run(tokens[owner] ?? null, missing), missing);
        expect(seen, `${probe.name} as ${owner}, who may see the job`).not.toEqual(nothing);
      }
    },
  );

  it('serves an export file to whoever may see its job, as "not found" to everyone else', async () => {
    const file = String((aliceExport.result as { downloadUrl: string }).downloadUrl)
      .split('/')
      .pop()!;
    const missingFile = file.replace(aliceExport.id, randomUUID());
    for (const attacker of ['bob', 'aliceAtGlobex', 'globexAdmin', 'anonymous']) {
      const theirs = await observe(`/api/v1/exports/${file}`, tokens[attacker] ?? null);
      const nothing = await observe(`/api/v1/exports/${missingFile}`, tokens[attacker] ?? null);
      expect(normalized(theirs, file), attacker).toEqual(normalized(nothing, missingFile));
    }
    for (const owner of ['alice', 'acmeAdmin']) {
      const seen = await observe(`/api/v1/exports/${file}`, tokens[owner]!);
      expect(seen.status, owner).toBe(200);
    }
  });
});

/** A fresh queued job of the same owner and organisation. */
function copyOf(job: Job): Promise<Job> {
  return jobdeck.enqueueJob(job.type, job.payload, {
    ownerId: job.owner_id!,
    orgId: job.org_id!,
    runAt: LATER(),
  });
}

// --- totals: lists, counts, aggregates, stats --------------------------------------------------

/** Everything a tenant can count, with the parts that move with the clock left out. */
async function totals(token: string | null): Promise<unknown> {
  const gql = await graphql(
    token,
    `
      {
        jobs {
          totalCount
          aggregates {
            distinctCount {
              id
            }
            sum {
              priority
            }
          }
          groupedAggregates(groupBy: [STATUS, TYPE]) {
            keys
            distinctCount {
              id
            }
          }
        }
        activeJobs {
          totalCount
          nodes {
            id
          }
        }
        jobStats
      }
    `,
    {},
  );
  const data = (JSON.parse(gql.body) as { data: Record<string, unknown> }).data;
  const stats = (value: unknown) => {
    const s = value as { byStatus: unknown; byType: unknown; queue: Record<string, unknown> };
    const { oldestReadyAgeMs: _age, ...queue } = s.queue;
    return { byStatus: s.byStatus, byType: s.byType, queue };
  };
  // seed 003's shape: the same figures, less the clock-dependent ones
  const osintStats = (value: unknown) => {
    const s = value as {
      jobs_by_status: unknown;
      jobs_by_type: unknown;
      queue_status: Record<string, unknown>;
      resource_usage: unknown;
    };
    const {
      oldest_ready_age_seconds: _age,
      throughput_per_minute: _rate,
      ...queue
    } = s.queue_status;
    return {
      byStatus: s.jobs_by_status,
      byType: s.jobs_by_type,
      queue,
      usage: s.resource_usage,
    };
  };
  const rest = async (path: string) => {
    const response = await observe(path, token);
    if (response.status !== 200) return response;
    return JSON.parse(response.body) as unknown;
  };
  const jobStats = data['jobStats'];
  const restStats = (await rest('/jobs/stats')) as Observation;
  const adminStats = (await rest('/api/v1/admin/jobs/stats')) as Observation;
  return {
    graphql: { ...data, jobStats: jobStats ? stats(jobStats) : jobStats },
    list: await rest('/v1/jobs?pageSize=100'),
    active: await rest('/api/v2/jobs/active'),
    stats: 'jobs_by_status' in restStats ? osintStats(restStats) : restStats,
    admin: await rest('/api/v1/admin/jobs?page_size=100'),
    adminStats: 'byStatus' in adminStats ? stats(adminStats) : adminStats,
  };
}

describe('counts and statistics', () => {
  it('change for no one but the owner and their admin when a job comes and goes', async () => {
    const outsiders = ['bob', 'aliceAtGlobex', 'globexAdmin', 'anonymous'];
    const insiders = ['alice', 'acmeAdmin'];
    const before = new Map<string, unknown>();
    for (const who of [...outsiders, ...insiders])
      before.set(who, await totals(tokens[who] ?? null));
    const queued = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'alice',
      orgId: 'acme',
      runAt: LATER(),
    });
    const cancelled = await jobdeck.enqueueJob(
      'import_file',
      { filename: 'x.csv' },
      {
        ownerId: 'alice',
        orgId: 'acme',
        runAt: LATER(),
      },
    );
    await jobdeck.cancelJob(cancelled.id);
    for (const who of outsiders)
      expect(await totals(tokens[who] ?? null), `${who}'s totals`).toEqual(before.get(who));
    for (const who of insiders)
      expect(await totals(tokens[who] ?? null), `${who}'s totals`).not.toEqual(before.get(who));
    await jobdeck.cancelJob(queued.id);
  });
});

// --- live: subscriptions and event streams -----------------------------------------------------

/** An SSE stream's events, read until closed. */
async function openStream(path: string, token: string) {
  const controller = new AbortController();
  const response = await fetch(`${server.url}${path}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: controller.signal,
  });
  expect(response.status, path).toBe(200);
  const events: { event: string; data: { job?: { id: string; status: string } } }[] = [];
  const done = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return {
    events,
    ids: () => events.map((e) => e.data.job?.id),
    close: async () => {
      controller.abort();
      await done;
    },
  };
}

type Change = { id: string; status: string };

describe('live changes', () => {
  it('reach no subscription or event stream of another tenant', async () => {
    const victim = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'alice',
      orgId: 'acme',
      runAt: LATER(),
    });
    const bobsJob = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'bob',
      orgId: 'acme',
      runAt: LATER(),
    });
    const globexMarker = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'alice',
      orgId: 'globex',
      runAt: LATER(),
    });
    // the event stream is "my jobs" for an admin too
    const globexAdminsJob = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'root',
      orgId: 'globex',
      runAt: LATER(),
    });
    const one = `subscription($id: UUID!) { jobUpdated(id: $id) { id status } }`;
    const sub = <T>(who: string, query: string, variables: Record<string, unknown> = {}) =>
      subscribe<T>(server, query, { token: tokens[who]!, variables });

    // subscribing to another tenant's job starts exactly as to a job that does not exist
    const bobOnVictim = await sub<{ jobUpdated: Change }>('bob', one, { id: victim.id });
    const bobOnNothing = await sub<{ jobUpdated: Change }>('bob', one, { id: randomUUID() });
    expect(bobOnVictim.errors).toEqual(bobOnNothing.errors);
    const globexOnVictim = await sub<{ jobUpdated: Change }>('globexAdmin', one, {
      id: victim.id,
    });
    const elsewhereOnVictim = await sub<{ jobUpdated: Change }>('aliceAtGlobex', one, {
      id: victim.id,
    });
    const bobMine = await sub<{ myJobsChanged: Change }>(
      'bob',
      `subscription { myJobsChanged { id status } }`,
    );
    const elsewhereMine = await sub<{ myJobsChanged: Change }>(
      'aliceAtGlobex',
      `subscription { myJobsChanged { id status } }`,
    );
    const globexOrg = await sub<{ orgJobsChanged: Change }>(
      'globexAdmin',
      `subscription { orgJobsChanged { id status } }`,
    );
    // the victim and their admin do get the changes (so silence elsewhere means something)
    const aliceOnVictim = await sub<{ jobUpdated: Change }>('alice', one, { id: victim.id });
    const acmeOrg = await sub<{ orgJobsChanged: Change }>(
      'acmeAdmin',
      `subscription { orgJobsChanged { id status } }`,
    );
    const streams = {
      bob: await openStream('/v1/jobs/events', tokens['bob']!),
      aliceAtGlobex: await openStream('/v1/jobs/events', tokens['aliceAtGlobex']!),
      globexAdmin: await openStream('/v1/jobs/events', tokens['globexAdmin']!),
      alice: await openStream('/v1/jobs/events', tokens['alice']!),
      aliceOne: await openStream(`/v1/jobs/${victim.id}/events`, tokens['alice']!),
    };
    try {
      await jobdeck.cancelJob(victim.id, 'seen by alice and her admin only');
      await jobdeck.retryJob(victim.id);
      await jobdeck.cancelJob(victim.id);
      await aliceOnVictim.next((e) => e.jobUpdated.status === 'cancelled');
      await acmeOrg.next((e) => e.orgJobsChanged.id === victim.id);
      await waitFor(() => streams.alice.ids().includes(victim.id), { what: 'alice’s stream' });
      await waitFor(() => streams.aliceOne.events.some((e) => e.event === 'end'), {
        what: 'alice’s job stream to end',
      });
      // markers each outsider may see, sent after the victim's changes
      await jobdeck.cancelJob(bobsJob.id);
      await jobdeck.cancelJob(globexMarker.id);
      await jobdeck.cancelJob(globexAdminsJob.id);
      await bobMine.next((e) => e.myJobsChanged.id === bobsJob.id);
      await elsewhereMine.next((e) => e.myJobsChanged.id === globexMarker.id);
      await globexOrg.next((e) => e.orgJobsChanged.id === globexAdminsJob.id);
      await waitFor(() => streams.bob.ids().includes(bobsJob.id), { what: 'bob’s marker' });
      await waitFor(() => streams.aliceAtGlobex.ids().includes(globexMarker.id), {
        what: 'alice@globex’s marker',
      });
      await waitFor(() => streams.globexAdmin.ids().includes(globexAdminsJob.id), {
        what: 'the globex admin’s marker',
      });

      const heard = (subscription: TestSubscription<Record<string, Change>>) =>
        subscription.events.map((e) => Object.values(e)[0]!.id);
      for (const [name, subscription] of Object.entries({
        bobOnVictim,
        bobOnNothing,
        globexOnVictim,
        elsewhereOnVictim,
      }))
        expect(subscription.events, name).toEqual([]);
      expect(heard(bobMine)).toEqual([bobsJob.id]);
      expect(heard(elsewhereMine)).toEqual([globexMarker.id]);
      expect(heard(globexOrg)).toEqual([globexMarker.id, globexAdminsJob.id]);
      expect(streams.bob.ids()).toEqual([bobsJob.id]);
      expect(streams.aliceAtGlobex.ids()).toEqual([globexMarker.id]);
      expect(streams.globexAdmin.ids()).toEqual([globexAdminsJob.id]);
    } finally {
      for (const stream of Object.values(streams)) await stream.close();
    }
  });

  it('refuses the organisation feed to non-admins and every feed to anonymous callers', async () => {
    const userOrg = await subscribe(server, `subscription { orgJobsChanged { id } }`, {
      token: tokens['alice']!,
      expectError: true,
    });
    expect(JSON.stringify(userOrg.errors)).toMatch(/for organisation admins/);
    for (const query of [
      `subscription { myJobsChanged { id } }`,
      `subscription { orgJobsChanged { id } }`,
      `subscription { jobUpdated(id: "${aliceJob.id}") { id } }`,
    ]) {
      const anonymous = await subscribe(server, query, { expectError: true });
      expect(JSON.stringify(anonymous.errors), query).toMatch(/sign in first/);
    }
    const anonymousStream = await observe('/v1/jobs/events', null);
    expect(anonymousStream.status).toBe(401);
  });
});

// --- tokens ------------------------------------------------------------------------------------

const claims = { sub: 'alice', org: 'acme', role: 'user' };
const sign = (
  body: Record<string, unknown>,
  secret = TEST_JWT_SECRET,
  exp: number | null = 3600,
) => {
  const jwt = new SignJWT(body).setProtectedHeader({ alg: 'HS256' });
  if (exp !== null) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + exp);
  return jwt.sign(secretKey(secret));
};

const BAD_TOKENS: [string, () => Promise<string>, RegExp][] = [
  [
    'alg none',
    async () => new UnsecuredJWT(claims).setExpirationTime('1h').encode(),
    /alg "none" are refused/,
  ],
  [
    'another secret',
    () => sign(claims, 'another-secret-that-is-32-characters-long!'),
    /signature does not match/,
  ],
  ['expired', () => sign(claims, TEST_JWT_SECRET, -60), /expired at/],
  ['no exp', () => sign(claims, TEST_JWT_SECRET, null), /"exp"/],
  ['no org', () => sign({ sub: 'alice' }), /claim "org" is missing/],
  ['no sub', () => sign({ org: 'acme' }), /claim "sub" is missing/],
  ['an unknown role', () => sign({ ...claims, role: 'owner' }), /role must be "user" or "admin"/],
  [
    'an unknown permission',
    () => sign({ ...claims, permissions: ['jobs.delete_all'] }),
    /permissions/,
  ],
  ['a far expiry', () => sign(claims, TEST_JWT_SECRET, 10 * 365 * 86400), /400 days/],
  ['garbage', async () => 'not-a-token', /not a JWT/],
  [
    'HS512',
    async () =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS512' })
        .setExpirationTime('1h')
        .sign(secretKey(TEST_JWT_SECRET)),
    /alg "HS512" are refused/,
  ],
];

describe('bearer tokens', () => {
  it.each(BAD_TOKENS)(
    'refuses a token with %s on every surface: 401 with the reason, the same for any job',
    async (_what, make, message) => {
      const token = await make();
      const missing = randomUUID();
      // GraphQL over HTTP
      const query = await graphql(token, '{ jobs { totalCount } }', {});
      expect(query.status).toBe(401);
      const body = JSON.parse(query.body) as {
        data?: unknown;
        errors: { message: string; extensions: Record<string, unknown> }[];
      };
      expect(body.data ?? null).toBeNull();
      expect(body.errors[0]!.message).toMatch(message);
      expect(body.errors[0]!.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
      // GraphQL over websockets: connection_init refused, closed with 4403 and the reason
      // (graphql-transport-ws)
      const sub = await subscribe(server, `subscription { myJobsChanged { id } }`, {
        token,
        expectError: true,
      });
      const closed = sub.errors[0] as { code?: number; reason?: string };
      expect(closed.code).toBe(4403);
      expect(closed.reason).toMatch(message);
      // REST and event streams, about a real job and a missing one alike
      for (const probe of PROBES.filter((p) => !p.name.startsWith('GraphQL'))) {
        const real = normalized(await probe.run(token, aliceJob.id), aliceJob.id);
        const none = normalized(await probe.run(token, missing), missing);
        expect(real, probe.name).toEqual(none);
        expect(real.status, probe.name).toBe(401);
        if (probe.name.endsWith('(listed)')) continue;
        const error = JSON.parse(real.body) as { error: string; message: string };
        expect(error.error, probe.name).toBe('unauthorized');
        expect(error.message, probe.name).toMatch(message);
      }
      for (const path of ['/v1/jobs/events', '/api/v2/jobs/active', '/jobs/stats']) {
        const refused = await observe(path, token);
        expect(refused.status, path).toBe(401);
        expect(JSON.parse(refused.body), path).toEqual({
          error: 'unauthorized',
          message: expect.stringMatching(message),
        });
      }
    },
  );

  it('refuses other Authorization schemes', async () => {
    for (const path of ['/graphql', '/v1/jobs', `/v1/jobs/${aliceJob.id}/events`]) {
      const response = await fetch(`${server.url}${path}`, {
        method: path === '/graphql' ? 'POST' : 'GET',
        headers: { authorization: 'Basic YWxpY2U6c2VjcmV0', 'content-type': 'application/json' },
        body:
          path === '/graphql' ? JSON.stringify({ query: '{ jobs { totalCount } }' }) : undefined,
      });
      expect(response.status, path).toBe(401);
      const body = (await response.json()) as { message?: string; errors?: { message: string }[] };
      expect(body.message ?? body.errors?.[0]?.message, path).toMatch(/must be "Bearer <token>"/);
    }
  });
});
