import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobdeckServer } from '../../src/http/server.ts';
import { loadTasks } from '../../src/jobs/registry.ts';
import { ROOT } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';
import { gql, startTestServer, stopServers, tenantTokens } from '../helpers/api.ts';

/**
 * Job dependencies (issue 21, item 3) through the API: GraphQL's enqueueJob and REST's
 * `POST /v1/jobs` take dependsOn and onDependencyFailure, a job shows what it depends on and
 * what it still waits for, and a caller may depend only on jobs it can see.
 */
let t: TestDatabase;
let server: JobdeckServer;
let tokens: Awaited<ReturnType<typeof tenantTokens>>;

const ENQUEUE = `mutation($input: EnqueueJobInput!) {
  enqueueJob(input: $input) { job { id status dependsOn onDependencyFailure waitingFor } }
}`;

interface Enqueued {
  enqueueJob: {
    job: {
      id: string;
      status: string;
      dependsOn: string[] | null;
      onDependencyFailure: string | null;
      waitingFor: string[];
    };
  } | null;
}

async function rest(
  method: string,
  url: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.url}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  t = await createTestDatabase();
  await registerTasks(t, await loadTasks(path.join(ROOT, 'test/fixtures/dep-tasks')));
  server = await startTestServer(t);
  tokens = await tenantTokens();
});
afterAll(async () => {
  await stopServers();
  await t.drop();
});

describe('GraphQL enqueueJob with dependsOn', () => {
  it('enqueues a waiting job that shows its dependencies and what it still waits for', async () => {
    const parent = await gql<Enqueued>(server, ENQUEUE, {
      token: tokens.alice,
      variables: { input: { type: 'dep_step', payload: { n: 1 } } },
    });
    const parentId = parent.data!.enqueueJob!.job.id;
    expect(parent.data!.enqueueJob!.job).toMatchObject({ status: 'queued', dependsOn: null });

    const child = await gql<Enqueued>(server, ENQUEUE, {
      token: tokens.alice,
      variables: {
        input: {
          type: 'dep_step',
          payload: { n: 2 },
          dependsOn: [parentId],
          onDependencyFailure: 'run',
        },
      },
    });
    expect(child.errors).toBeUndefined();
    expect(child.data!.enqueueJob!.job).toMatchObject({
      status: 'waiting',
      dependsOn: [parentId],
      onDependencyFailure: 'run',
      waitingFor: [parentId],
    });

    const read = await gql<{ job: { status: string; waitingFor: string[] } }>(
      server,
      `query($id: UUID!) { job(id: $id) { status waitingFor } }`,
      { token: tokens.alice, variables: { id: child.data!.enqueueJob!.job.id } },
    );
    expect(read.data!.job).toEqual({ status: 'waiting', waitingFor: [parentId] });
  });

  it("refuses another user's job as a dependency, naming the id as not found", async () => {
    const parent = await gql<Enqueued>(server, ENQUEUE, {
      token: tokens.alice,
      variables: { input: { type: 'dep_step', payload: { n: 1 } } },
    });
    const parentId = parent.data!.enqueueJob!.job.id;
    const refused = await gql<Enqueued>(server, ENQUEUE, {
      token: tokens.bob,
      variables: { input: { type: 'dep_step', payload: { n: 2 }, dependsOn: [parentId] } },
    });
    expect(refused.data?.enqueueJob ?? null).toBeNull();
    expect(refused.errors?.[0]?.message).toContain(`depends_on: job ${parentId} not found`);
    // an admin of the organisation may
    const admin = await gql<Enqueued>(server, ENQUEUE, {
      token: tokens.acmeAdmin,
      variables: { input: { type: 'dep_step', payload: { n: 2 }, dependsOn: [parentId] } },
    });
    expect(admin.errors).toBeUndefined();
    expect(admin.data!.enqueueJob!.job.status).toBe('waiting');
    // another organisation's admin may not
    const globex = await gql<Enqueued>(server, ENQUEUE, {
      token: tokens.globexAdmin,
      variables: { input: { type: 'dep_step', payload: { n: 2 }, dependsOn: [parentId] } },
    });
    expect(globex.errors?.[0]?.message).toContain(`depends_on: job ${parentId} not found`);
  });

  it('refuses a bad policy, naming the field', async () => {
    const parent = await gql<Enqueued>(server, ENQUEUE, {
      token: tokens.alice,
      variables: { input: { type: 'dep_step', payload: { n: 1 } } },
    });
    const refused = await gql<Enqueued>(server, ENQUEUE, {
      token: tokens.alice,
      variables: {
        input: {
          type: 'dep_step',
          payload: { n: 2 },
          dependsOn: [parent.data!.enqueueJob!.job.id],
          onDependencyFailure: 'sometimes',
        },
      },
    });
    expect(refused.errors?.[0]?.message).toContain('on_dependency_failure must be cancel or run');
  });
});

describe('REST POST /v1/jobs with dependsOn', () => {
  it('creates a waiting job whose status shows its dependencies', async () => {
    const parent = await rest('POST', '/v1/jobs', tokens.alice, {
      jobType: 'dep_step',
      payload: { n: 1 },
    });
    expect(parent.status).toBe(201);
    const parentId = parent.body['jobId'] as string;
    const child = await rest('POST', '/v1/jobs', tokens.alice, {
      jobType: 'dep_step',
      payload: { n: 2 },
      dependsOn: [parentId],
    });
    expect(child.status).toBe(201);
    const status = await rest(
      'GET',
      `/v1/jobs/${child.body['jobId'] as string}/status`,
      tokens.alice,
    );
    expect(status.body['job']).toMatchObject({
      status: 'waiting',
      dependsOn: [parentId],
      onDependencyFailure: 'cancel',
    });
    expect(status.body).toMatchObject({ canCancel: true, canRetry: false });
  });

  it('answers 400 naming the field for bad dependencies, and an unknown id', async () => {
    const bad = await rest('POST', '/v1/jobs', tokens.alice, {
      jobType: 'dep_step',
      payload: { n: 2 },
      dependsOn: ['nope'],
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('dependsOn must list job ids');
    const policy = await rest('POST', '/v1/jobs', tokens.alice, {
      jobType: 'dep_step',
      payload: { n: 2 },
      dependsOn: ['00000000-0000-4000-8000-000000000009'],
      onDependencyFailure: 'later',
    });
    expect(policy.status).toBe(400);
    expect(JSON.stringify(policy.body)).toContain('onDependencyFailure must be');
    const missing = await rest('POST', '/v1/jobs', tokens.alice, {
      jobType: 'dep_step',
      payload: { n: 2 },
      dependsOn: ['00000000-0000-4000-8000-000000000009'],
    });
    expect(missing.status).toBe(400);
    expect(JSON.stringify(missing.body)).toContain(
      'depends_on: job 00000000-0000-4000-8000-000000000009 not found',
    );
  });
});

const ENQUEUE_GRAPH = `mutation($jobs: JSON!) {
  enqueueJobGraph(input: { jobs: $jobs }) { result { ref id } }
}`;

interface GraphEnqueued {
  enqueueJobGraph: { result: { ref: string; id: string }[] } | null;
}

/** The caller's jobs by id: owner, organisation, status and dependencies, read as the owner. */
async function rows(ids: string[]) {
  const { rows: found } = await t.pool.query<{
    id: string;
    owner_id: string;
    org_id: string;
    status: string;
    depends_on: string[] | null;
  }>(
    'select id, owner_id, org_id, status, depends_on from jobdeck.jobs where id = any($1::uuid[])',
    [ids],
  );
  return new Map(found.map((row) => [row.id, row]));
}

describe('GraphQL enqueueJobGraph', () => {
  it('enqueues a fan-out and fan-in graph as the caller, all waiting on their refs', async () => {
    const graph = [
      { ref: 'fetch', type: 'dep_step', payload: { n: 1 } },
      { ref: 'left', type: 'dep_step', payload: { n: 2 }, dependsOn: ['fetch'] },
      { ref: 'right', type: 'dep_step', payload: { n: 3 }, dependsOn: ['fetch'] },
      {
        ref: 'join',
        type: 'dep_step',
        payload: { n: 4 },
        dependsOn: ['left', 'right'],
        onDependencyFailure: 'run',
      },
    ];
    const result = await gql<GraphEnqueued>(server, ENQUEUE_GRAPH, {
      token: tokens.alice,
      variables: { jobs: graph },
    });
    expect(result.errors).toBeUndefined();
    const ids = Object.fromEntries(result.data!.enqueueJobGraph!.result.map((r) => [r.ref, r.id]));
    expect(Object.keys(ids)).toEqual(['fetch', 'left', 'right', 'join']);
    const found = await rows(Object.values(ids));
    // Owner and organisation from the token, never from the call.
    for (const id of Object.values(ids))
      expect(found.get(id)).toMatchObject({ owner_id: 'alice', org_id: 'acme' });
    expect(found.get(ids['fetch']!)!.status).toBe('queued');
    expect(found.get(ids['left']!)).toMatchObject({
      status: 'waiting',
      depends_on: [ids['fetch']],
    });
    expect(found.get(ids['join']!)!.status).toBe('waiting');
    expect([...found.get(ids['join']!)!.depends_on!].sort()).toEqual(
      [ids['left'], ids['right']].sort(),
    );
  });

  it('refuses a cycle, an owner field and another user’s job, naming the ref, and leaves nothing', async () => {
    const before = (
      await t.pool.query<{ n: number }>('select count(*)::int as n from jobdeck.jobs')
    ).rows[0]!.n;
    const cycle = await gql<GraphEnqueued>(server, ENQUEUE_GRAPH, {
      token: tokens.alice,
      variables: {
        jobs: [
          { ref: 'free', type: 'dep_step', payload: { n: 0 } },
          { ref: 'a', type: 'dep_step', payload: { n: 1 }, dependsOn: ['b'] },
          { ref: 'b', type: 'dep_step', payload: { n: 2 }, dependsOn: ['a'] },
        ],
      },
    });
    expect(cycle.errors?.[0]?.message).toContain('the dependencies of "a", "b" form a cycle');
    const owner = await gql<GraphEnqueued>(server, ENQUEUE_GRAPH, {
      token: tokens.alice,
      variables: { jobs: [{ ref: 'x', type: 'dep_step', payload: { n: 1 }, ownerId: 'bob' }] },
    });
    expect(owner.errors?.[0]?.message).toContain('jobs.x: ownerId cannot be set through the API');
    const bobs = await gql<Enqueued>(server, ENQUEUE, {
      token: tokens.bob,
      variables: { input: { type: 'dep_step', payload: { n: 1 } } },
    });
    const bobsId = bobs.data!.enqueueJob!.job.id;
    const foreign = await gql<GraphEnqueued>(server, ENQUEUE_GRAPH, {
      token: tokens.alice,
      variables: {
        jobs: [
          { ref: 'mine', type: 'dep_step', payload: { n: 1 } },
          { ref: 'theirs', type: 'dep_step', payload: { n: 2 }, dependsOn: ['mine', bobsId] },
        ],
      },
    });
    expect(foreign.errors?.[0]?.message).toContain(
      `jobs.theirs: depends_on: job ${bobsId} not found`,
    );
    const after = (await t.pool.query<{ n: number }>('select count(*)::int as n from jobdeck.jobs'))
      .rows[0]!.n;
    expect(after).toBe(before + 1); // only bob's own job
  });
});

describe('REST POST /api/v2/job-graphs', () => {
  it('enqueues a graph by refs and answers each ref’s job; 400 naming the problem otherwise', async () => {
    const created = await rest('POST', '/api/v2/job-graphs', tokens.alice, {
      jobs: {
        parse: { type: 'dep_step', payload: { n: 1 } },
        load: { type: 'dep_step', payload: { n: 2 }, dependsOn: ['parse'] },
      },
    });
    expect(created.status).toBe(201);
    const jobs = created.body['jobs'] as Record<string, { jobId: string; status: string }>;
    expect(jobs['parse']).toMatchObject({ type: 'dep_step', status: 'queued' });
    expect(jobs['load']).toMatchObject({ type: 'dep_step', status: 'waiting' });
    const found = await rows([jobs['load']!.jobId]);
    expect(found.get(jobs['load']!.jobId)!.depends_on).toEqual([jobs['parse']!.jobId]);

    const unknownRef = await rest('POST', '/api/v2/job-graphs', tokens.alice, {
      jobs: { a: { type: 'dep_step', payload: { n: 1 }, dependsOn: ['nowhere'] } },
    });
    expect(unknownRef.status).toBe(400);
    expect(JSON.stringify(unknownRef.body)).toContain(
      'jobs.a: dependsOn \\"nowhere\\" is neither a ref of this call nor a job id',
    );
    const extra = await rest('POST', '/api/v2/job-graphs', tokens.alice, {
      jobs: { a: { type: 'dep_step', ownerId: 'bob' } },
    });
    expect(extra.status).toBe(400);
    expect(JSON.stringify(extra.body)).toContain('ownerId');
    const empty = await rest('POST', '/api/v2/job-graphs', tokens.alice, { jobs: {} });
    expect(empty.status).toBe(400);
    expect(JSON.stringify(empty.body)).toContain('jobs needs at least one job');
  });
});
