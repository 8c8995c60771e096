import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import { loadTasks } from '../../src/jobs/registry.ts';
import path from 'node:path';
import { gql, startTestServer, stopServers, tokenFor } from '../helpers/api.ts';
import { ROOT } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';

/**
 * Pausing through the API (issue 20, item 1): REST and GraphQL, for admins of an operator
 * organisation (JOBDECK_OPERATOR_ORGS) only; everyone else is refused and nothing changes.
 */
describe('pausing through REST and GraphQL', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;
  let server: JobdeckServer;
  let closed: JobdeckServer;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, await loadTasks(path.join(ROOT, 'tasks')));
    jobdeck = createJobdeck({ pool: t.pool });
    server = await startTestServer(t, { operatorOrgs: ['ops'] });
    closed = await startTestServer(t);
    tokens['operator'] = await tokenFor('olga', 'ops', { role: 'admin' });
    tokens['opsUser'] = await tokenFor('oscar', 'ops');
    tokens['acmeAdmin'] = await tokenFor('root', 'acme', { role: 'admin' });
    tokens['alice'] = await tokenFor('alice', 'acme');
  });
  afterAll(async () => {
    await stopServers();
    await jobdeck.close();
    await t.drop();
  });

  async function call(
    method: string,
    url: string,
    token: string | undefined,
    body?: unknown,
    on = server,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- bodies are checked by shape
  ): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = {};
    if (token) headers['authorization'] = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${on.url}${url}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const answer = { status: response.status, body: await response.json() };
    recorded.push({ method, url, ...answer });
    return answer;
  }
  /** Every answer of the REST routes, checked against /openapi.json at the end. */
  const recorded: { method: string; url: string; status: number; body: unknown }[] = [];
  const pauseRows = async () =>
    (await t.pool.query('select scope, key from jobdeck_private.pauses order by scope, key')).rows;

  it('lets an operator pause and resume a queue over REST; the reason shows on the job', async () => {
    const job = await jobdeck.enqueueJob(
      'export_report',
      { reportType: 'quotes', format: 'csv' },
      { queue: 'reports', ownerId: 'alice', orgId: 'acme' },
    );
    const paused = await call('POST', '/api/v2/admin/queues/reports/pause', tokens['operator'], {
      reason: 'db maintenance',
    });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({
      scope: 'queue',
      key: 'reports',
      reason: 'db maintenance',
      pausedBy: 'olga@ops',
      held: 1,
      cancelled: 0,
    });

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain(
      'jobdeck_jobs_held{reason="paused",type="export_report",queue="reports"} 1',
    );

    const listed = await call('GET', '/api/v2/admin/pauses', tokens['operator']);
    expect(listed.body).toMatchObject({ pauses: [{ scope: 'queue', key: 'reports', held: 1 }] });

    // The owner sees the job waiting, with why, in its REST log and in GraphQL.
    const detail = await call('GET', `/jobs/${job.id}`, tokens['alice']);
    expect(detail.body).toMatchObject({ status: 'PENDING' });
    const logs = await call('GET', `/jobs/${job.id}/logs`, tokens['alice']);
    expect(logs.body.map((line: { message: string }) => line.message)).toContain(
      'paused: queue "reports" (db maintenance)',
    );
    const active = await gql<{ activeJobs: { nodes: { id: string; heldReason: string }[] } }>(
      server,
      '{ activeJobs { nodes { id heldReason } } }',
      { token: tokens['acmeAdmin'] },
    );
    expect(active.data?.activeJobs.nodes).toContainEqual({
      id: job.id,
      heldReason: 'paused: queue "reports" (db maintenance)',
    });

    const resumed = await call('POST', '/api/v2/admin/queues/reports/resume', tokens['operator']);
    expect(resumed.body).toEqual({ scope: 'queue', key: 'reports', resumed: true, released: 1 });
    const after = await gql<{ job: { heldAt: string | null; status: string } }>(
      server,
      `{ job(id: "${job.id}") { heldAt status } }`,
      { token: tokens['alice'] },
    );
    expect(after.data?.job).toEqual({ heldAt: null, status: 'queued' });
    await jobdeck.cancelJob(job.id);

    for (const [scope, base] of [
      ['type', '/api/v2/admin/types/export_report'],
      ['all', '/api/v2/admin'],
    ] as const) {
      const on = await call('POST', `${base}/pause`, tokens['operator'], { cancelRunning: true });
      expect(on.body).toMatchObject({ scope, held: 0, cancelled: 0 });
      const off = await call('POST', `${base}/resume`, tokens['operator']);
      expect(off.body).toMatchObject({ scope, resumed: true });
    }
  });

  it('refuses everyone but operators, and bad input naming the field, changing nothing', async () => {
    const refused = [
      [undefined, 401],
      [tokens['alice'], 403],
      [tokens['opsUser'], 403],
      [tokens['acmeAdmin'], 403],
    ] as const;
    for (const [token, status] of refused) {
      for (const [method, url] of [
        ['POST', '/api/v2/admin/queues/q/pause'],
        ['POST', '/api/v2/admin/types/t/resume'],
        ['POST', '/api/v2/admin/pause'],
        ['GET', '/api/v2/admin/pauses'],
      ] as const) {
        const answer = await call(method, url, token);
        expect([url, answer.status]).toEqual([url, status]);
      }
    }
    const acme = await call('POST', '/api/v2/admin/pause', tokens['acmeAdmin']);
    expect(acme.body).toEqual({
      error: 'forbidden',
      message: expect.stringMatching(
        /admins of an operator organisation \(JOBDECK_OPERATOR_ORGS\)/,
      ),
    });
    // A server without operator organisations: nobody, with a message saying how to allow it.
    const off = await call('POST', '/api/v2/admin/pause', tokens['operator'], undefined, closed);
    expect(off.status).toBe(403);
    expect(off.body.message).toMatch(/pausing through the API is off: set JOBDECK_OPERATOR_ORGS/);

    const bad = [
      [`/api/v2/admin/queues/${'q'.repeat(129)}/pause`, {}, /queue must be at most 128 characters/],
      ['/api/v2/admin/queues/q/pause', { reason: '' }, /reason: reason must not be empty/],
      [
        '/api/v2/admin/types/t/pause',
        { cancelRunning: 'yes' },
        /cancelRunning must be true or false/,
      ],
      ['/api/v2/admin/pause', { urgent: true }, /urgent/],
    ] as const;
    for (const [url, body, message] of bad) {
      const answer = await call('POST', url, tokens['operator'], body);
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ error: 'invalid_request' });
      expect(answer.body.message).toMatch(message);
    }
    expect(await pauseRows()).toEqual([]);

    // In SQL, no request role may call them (PUBLIC neither: database-roles.test.ts); jobdeck_system may.
    const { rows } = await t.pool.query<{ role: string; fn: string }>(
      `select r.rolname as role, p.oid::regprocedure::text as fn
         from pg_proc p cross join pg_roles r
        where p.pronamespace = 'jobdeck'::regnamespace
          and (p.proname like 'pause%' or p.proname like 'resume%')
          and r.rolname in ('jobdeck_anonymous', 'jobdeck_user', 'jobdeck_admin', 'jobdeck_api')
          and has_function_privilege(r.oid, p.oid, 'execute')`,
    );
    expect(rows).toEqual([]);
    const system = await t.pool.query<{ n: number }>(
      `select count(*)::int as n from pg_proc p
        where p.pronamespace = 'jobdeck'::regnamespace
          and (p.proname like 'pause%' or p.proname like 'resume%')
          and has_function_privilege('jobdeck_system', p.oid, 'execute')`,
    );
    expect(system.rows[0]!.n).toBe(7);
  });

  it('offers the pause mutations in GraphQL to operators only', async () => {
    const pause = `mutation { pauseTaskType(type: "export_report", reason: "deploy") { scope key reason pausedBy held cancelled } }`;
    const refused = await gql(server, pause, { token: tokens['acmeAdmin'] });
    expect(refused.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/admins of an operator organisation/),
      extensions: { code: 'FORBIDDEN' },
    });
    expect(await pauseRows()).toEqual([]);

    const done = await gql(server, pause, { token: tokens['operator'] });
    expect(done.errors).toBeUndefined();
    expect(done.data).toEqual({
      pauseTaskType: {
        scope: 'type',
        key: 'export_report',
        reason: 'deploy',
        pausedBy: 'olga@ops',
        held: 0,
        cancelled: 0,
      },
    });
    const all = await gql(server, 'mutation { pauseAll { scope key } }', {
      token: tokens['operator'],
    });
    expect(all.data).toEqual({ pauseAll: { scope: 'all', key: null } });
    const listed = await gql<{ pauses: { scope: string; key: string | null }[] }>(
      server,
      '{ pauses { scope key reason held pausedAt } }',
      { token: tokens['operator'] },
    );
    expect(listed.data?.pauses.map((p) => [p.scope, p.key])).toEqual([
      ['type', 'export_report'],
      ['all', null],
    ]);
    const badName = await gql(server, 'mutation { pauseQueue(queue: "") { key } }', {
      token: tokens['operator'],
    });
    expect(badName.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/^queue must be a name of 1 to 128 characters/),
      extensions: { code: 'BAD_USER_INPUT' },
    });

    const resumed = await gql(
      server,
      'mutation { a: resumeAll { resumed } b: resumeTaskType(type: "export_report") { resumed released } }',
      { token: tokens['operator'] },
    );
    expect(resumed.data).toEqual({ a: { resumed: true }, b: { resumed: true, released: 0 } });
    expect(await pauseRows()).toEqual([]);
  });

  it('answers as the OpenAPI description says, successes and errors', async () => {
    const served: unknown = await (await fetch(`${server.url}/openapi.json`)).json();
    const document = (await SwaggerParser.dereference(
      structuredClone(served) as never,
    )) as unknown as {
      paths: Record<
        string,
        Record<
          string,
          { responses: Record<string, { content: Record<string, { schema: object }> }> }
        >
      >;
    };
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    const templates = Object.keys(document.paths)
      .filter((template) => template.startsWith('/api/v2/admin/'))
      .map((template) => ({
        template,
        pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
      }));
    expect(templates).toHaveLength(7);
    const seen = new Set<string>();
    for (const answer of recorded) {
      const match = templates.find((t) => t.pattern.test(answer.url));
      if (!match) continue;
      const described =
        document.paths[match.template]![answer.method.toLowerCase()]!.responses[
          String(answer.status)
        ];
      expect(described, `${answer.method} ${answer.url} → ${answer.status}`).toBeDefined();
      const validate = ajv.compile(described!.content['application/json']!.schema);
      expect(validate(answer.body), `${answer.url}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      if (answer.status === 200) seen.add(`${answer.method} ${match.template}`);
    }
    expect(seen.size).toBe(7);
  });
});
