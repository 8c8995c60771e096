import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import { withIdentity } from '../../src/auth/scoped.ts';
import type { Identity } from '../../src/auth/identity.ts';
import {
  enqueueFromTemplateAsCaller,
  listTemplatesAsCaller,
  setTemplateOn,
} from '../../src/jobs/templates.ts';
import {
  ForbiddenError,
  InvalidArgumentError,
  InvalidPayloadError,
  JobNotFoundError,
  UnknownJobTypeError,
} from '../../src/errors.ts';
import { gql, startTestServer, stopServers, tokenFor } from '../helpers/api.ts';
import { runCli } from '../helpers/cli.ts';
import { createTestDatabase, openApiPool, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  [
    'import_file',
    defineTask({
      payload: z.object({
        filename: z.string().min(1),
        options: z
          .object({ delimiter: z.string().optional(), header: z.boolean().optional() })
          .optional(),
        rows: z.number().int().min(1).optional(),
      }),
      run: () => null,
    }),
  ],
  ['internal_only', defineTask({ enqueueFromApi: false, run: () => null })],
]);

const identity = (userId: string, orgId: string, role: 'user' | 'admin' = 'user'): Identity => ({
  userId,
  orgId,
  role,
  permissions: null,
  expiresAt: new Date(Date.now() + 3_600_000),
});

describe('job templates', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;
  let api: ReturnType<typeof openApiPool>;
  let server: JobdeckServer;
  const tokens: Record<string, string> = {};

  const jobCount = async () =>
    Number((await t.pool.query('select count(*) from jobdeck.jobs')).rows[0].count);

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, tasks);
    jobdeck = createJobdeck({ pool: t.pool });
    api = openApiPool(t.url);
    server = await startTestServer(t);
    tokens['alice'] = await tokenFor('alice', 'acme');
    tokens['gus'] = await tokenFor('gus', 'globex');
    tokens['viewer'] = await tokenFor('vic', 'acme', { permissions: ['jobs.view_jobs'] });
  });
  afterAll(async () => {
    await stopServers();
    await api.close();
    await jobdeck.close();
    await t.drop();
  });

  beforeEach(async () => {
    await t.pool.query('delete from jobdeck.jobs');
    await t.pool.query('delete from jobdeck.job_templates');
    await jobdeck.defineTemplate('nightly-import', {
      type: 'import_file',
      payload: { filename: 'nightly.csv', options: { delimiter: ';', header: true } },
      priority: 5,
      queue: 'imports',
      maxAttempts: 7,
      description: 'The nightly import',
    });
    await jobdeck.defineTemplate('acme-import', {
      type: 'import_file',
      payload: { filename: 'acme.csv' },
      orgId: 'acme',
    });
  });

  async function rest(method: string, url: string, token: string | undefined, body?: unknown) {
    const headers: Record<string, string> = {};
    if (token) headers['authorization'] = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${server.url}${url}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- bodies are checked by shape
    return { status: response.status, body: (await response.json()) as any };
  }

  describe('TypeScript', () => {
    it('enqueues with the template’s type, options and defaults, the payload deep-merged over them', async () => {
      const job = await jobdeck.enqueueFromTemplate('nightly-import', {
        options: { header: false },
        rows: 10,
      });
      expect(job.type).toBe('import_file');
      expect(job.priority).toBe(5);
      expect(job.queue).toBe('imports');
      expect(job.max_attempts).toBe(7);
      expect(job.payload).toEqual({
        filename: 'nightly.csv',
        options: { delimiter: ';', header: false },
        rows: 10,
      });
      expect(job.metadata).toEqual({ template: 'nightly-import' });
    });

    it('lets explicit options win over the template’s', async () => {
      const job = await jobdeck.enqueueFromTemplate(
        'nightly-import',
        { filename: 'other.csv' },
        { priority: 'urgent', queue: 'fast', maxAttempts: 2, metadata: { by: 'test' } },
      );
      expect(job.priority).toBe(-20);
      expect(job.queue).toBe('fast');
      expect(job.max_attempts).toBe(2);
      expect((job.payload as { filename: string }).filename).toBe('other.csv');
      expect(job.metadata).toEqual({ by: 'test', template: 'nightly-import' });
    });

    it('validates the merged payload by the task’s schema, writing nothing', async () => {
      await expect(
        jobdeck.enqueueFromTemplate('nightly-import', { rows: 0 }),
      ).rejects.toBeInstanceOf(InvalidPayloadError);
      await expect(
        jobdeck.enqueueFromTemplate('nightly-import', ['not', 'an', 'object']),
      ).rejects.toThrow(/payload must be a JSON object to merge/);
      expect(await jobCount()).toBe(0);
    });

    it('refuses an unknown template by name, writing nothing', async () => {
      const error = await jobdeck.enqueueFromTemplate('no-such', {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(JobNotFoundError);
      expect((error as Error).message).toBe('job template "no-such" not found');
      expect(await jobCount()).toBe(0);
    });

    it('makes an organisation’s template’s jobs that organisation’s, and refuses another one', async () => {
      const job = await jobdeck.enqueueFromTemplate('acme-import', {});
      expect(job.org_id).toBe('acme');
      await expect(
        jobdeck.enqueueFromTemplate('acme-import', {}, { orgId: 'globex' }),
      ).rejects.toThrow(/belongs to another organisation/);
    });

    it('refuses templates of unknown task types and bad defaults, naming the problem', async () => {
      const unknown = await jobdeck
        .defineTemplate('bad', { type: 'no_such_type' })
        .catch((e: unknown) => e);
      expect(unknown).toBeInstanceOf(UnknownJobTypeError);
      expect((unknown as Error).message).toMatch(/template "bad": unknown job type "no_such_type"/);
      await expect(
        jobdeck.defineTemplate('bad', {
          type: 'import_file',
          payload: [1] as unknown as Record<string, unknown>,
        }),
      ).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(
        jobdeck.defineTemplate('bad name!', { type: 'import_file' }),
      ).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(
        jobdeck.defineTemplate('bad', { type: 'import_file', maxAttempts: 0 }),
      ).rejects.toBeInstanceOf(InvalidArgumentError);
      expect((await jobdeck.templates()).map((tpl) => tpl.name)).toEqual([
        'acme-import',
        'nightly-import',
      ]);
    });

    it('lists, replaces and deletes templates', async () => {
      const replaced = await jobdeck.defineTemplate('nightly-import', {
        type: 'import_file',
        priority: 'high',
      });
      expect(replaced.priority).toBe(-10);
      expect(replaced.queue).toBeNull();
      expect((await jobdeck.templates({ orgId: 'globex' })).map((tpl) => tpl.name)).toEqual([
        'nightly-import',
      ]);
      expect(await jobdeck.deleteTemplate('nightly-import')).toBe(true);
      expect(await jobdeck.deleteTemplate('nightly-import')).toBe(false);
    });

    it('carries the template’s webhook URL onto its jobs, unless one is given', async () => {
      await jobdeck.defineTemplate('hooked', {
        type: 'import_file',
        payload: { filename: 'h.csv' },
        webhookUrl: 'https://example.com/hook',
      });
      expect((await jobdeck.enqueueFromTemplate('hooked')).webhook_url).toBe(
        'https://example.com/hook',
      );
      const own = await jobdeck.enqueueFromTemplate(
        'hooked',
        {},
        {
          webhookUrl: 'https://example.org/other',
        },
      );
      expect(own.webhook_url).toBe('https://example.org/other');
    });

    it('enqueues in the caller’s transaction', async () => {
      const client = await t.pool.connect();
      try {
        await client.query('begin');
        await jobdeck.enqueueFromTemplate('nightly-import', {}, { tx: client });
        await client.query('rollback');
      } finally {
        client.release();
      }
      expect(await jobCount()).toBe(0);
    });
  });

  describe('SQL', () => {
    it('enqueue_template merges and overrides as the client does', async () => {
      const { rows } = await t.pool.query(
        `select * from jobdeck.enqueue_template('nightly-import', '{"rows": 3}', priority => 1)`,
      );
      expect(rows[0].type).toBe('import_file');
      expect(rows[0].priority).toBe(1);
      expect(rows[0].queue).toBe('imports');
      expect(rows[0].payload).toEqual({
        filename: 'nightly.csv',
        options: { delimiter: ';', header: true },
        rows: 3,
      });
      expect(rows[0].metadata).toEqual({ template: 'nightly-import' });
    });

    it('set_job_template refuses an unknown type with JD001', async () => {
      await expect(
        t.pool.query(`select jobdeck.set_job_template('x', 'nope')`),
      ).rejects.toMatchObject({ code: 'JD001' });
    });

    it('refuses management and the trusted enqueue to API roles', async () => {
      const alice = identity('alice', 'acme', 'admin');
      for (const statement of [
        `select jobdeck.set_job_template('mine', 'import_file')`,
        `select jobdeck.delete_job_template('nightly-import')`,
        `select jobdeck.enqueue_template('nightly-import')`,
      ]) {
        await expect(
          withIdentity(api.pool, alice, ({ client }) => client.query(statement)),
        ).rejects.toMatchObject({ code: '42501' });
      }
      await expect(
        withIdentity(api.pool, alice, ({ db }) =>
          setTemplateOn(db, 'mine', { type: 'import_file' }),
        ),
      ).rejects.toBeInstanceOf(ForbiddenError);
      await expect(
        withIdentity(api.pool, alice, ({ client }) =>
          client.query(
            `insert into jobdeck.job_templates (name, type) values ('mine', 'import_file')`,
          ),
        ),
      ).rejects.toMatchObject({ code: '42501' });
      await expect(
        withIdentity(api.pool, alice, ({ client }) =>
          client.query('select webhook_url from jobdeck.job_templates'),
        ),
      ).rejects.toMatchObject({ code: '42501' });
    });

    it('shows API callers the global templates and their organisation’s only', async () => {
      const acme = await withIdentity(api.pool, identity('alice', 'acme'), ({ db }) =>
        listTemplatesAsCaller(db),
      );
      expect(acme.map((tpl) => tpl.name)).toEqual(['acme-import', 'nightly-import']);
      const globex = await withIdentity(api.pool, identity('gus', 'globex'), ({ db }) =>
        listTemplatesAsCaller(db),
      );
      expect(globex.map((tpl) => tpl.name)).toEqual(['nightly-import']);
    });

    it('lets an API caller use another organisation’s template no more than an unknown one', async () => {
      const error = await withIdentity(api.pool, identity('gus', 'globex'), ({ db }) =>
        enqueueFromTemplateAsCaller(db, 'acme-import', {}),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(JobNotFoundError);
      expect((error as Error).message).toBe('job template "acme-import" not found');
      expect(await jobCount()).toBe(0);
    });

    it('refuses API callers templates of types not enqueueable from the API', async () => {
      await jobdeck.defineTemplate('internal', { type: 'internal_only' });
      await expect(
        withIdentity(api.pool, identity('alice', 'acme'), ({ db }) =>
          enqueueFromTemplateAsCaller(db, 'internal', {}),
        ),
      ).rejects.toThrow(/cannot be enqueued through the API/);
      expect(await jobCount()).toBe(0);
    });
  });

  describe('GraphQL', () => {
    it('lists jobTemplates and enqueues with enqueueFromTemplate as the caller', async () => {
      const listed = await gql<{ jobTemplates: { nodes: { name: string }[] } }>(
        server,
        '{ jobTemplates(orderBy: NAME_ASC) { nodes { name type priority queue payloadDefaults } } }',
        { token: tokens['gus'] },
      );
      expect(listed.errors).toBeUndefined();
      expect(listed.data?.jobTemplates.nodes.map((n) => n.name)).toEqual(['nightly-import']);

      const made = await gql<{
        enqueueFromTemplate: {
          job: { id: string; type: string; priority: number; queue: string; payload: unknown };
        };
      }>(
        server,
        `mutation($payload: JSON) {
           enqueueFromTemplate(input: { name: "nightly-import", payload: $payload, priority: -5 }) {
             job { id type priority queue payload ownerId orgId }
           }
         }`,
        { variables: { payload: { rows: 4 } }, token: tokens['alice'] },
      );
      expect(made.errors).toBeUndefined();
      const job = made.data!.enqueueFromTemplate.job;
      expect(job).toMatchObject({
        type: 'import_file',
        priority: -5,
        queue: 'imports',
        payload: { filename: 'nightly.csv', options: { delimiter: ';', header: true }, rows: 4 },
      });
    });

    it('answers an unknown template and a bad payload with a readable error, writing nothing', async () => {
      const unknown = await gql(
        server,
        'mutation { enqueueFromTemplate(input: { name: "acme-import" }) { job { id } } }',
        { token: tokens['gus'] },
      );
      expect(unknown.errors?.[0]?.message).toBe('job template "acme-import" not found');
      const invalid = await gql(
        server,
        'mutation { enqueueFromTemplate(input: { name: "nightly-import", payload: { rows: 0 } }) { job { id } } }',
        { token: tokens['alice'] },
      );
      expect(invalid.errors?.[0]?.message).toMatch(/invalid payload/);
      expect(await jobCount()).toBe(0);
    });

    it('never shows a template’s webhook URL or e-mail addresses', async () => {
      const answer = await gql(server, '{ jobTemplates { nodes { webhookUrl } } }', {
        token: tokens['alice'],
      });
      expect(answer.errors?.[0]?.message).toMatch(/webhookUrl/);
    });
  });

  describe('REST', () => {
    it('GET /api/v2/templates lists what the caller may use', async () => {
      const acme = await rest('GET', '/api/v2/templates', tokens['alice']);
      expect(acme.status).toBe(200);
      expect(acme.body.templates.map((tpl: { name: string }) => tpl.name)).toEqual([
        'acme-import',
        'nightly-import',
      ]);
      expect(acme.body.templates[1]).not.toHaveProperty('webhookUrl');
      const viewer = await rest('GET', '/api/v2/templates', tokens['viewer']);
      expect(viewer.body.templates).toEqual([]);
      expect((await rest('GET', '/api/v2/templates', undefined)).status).toBe(401);
    });

    it('POST /api/v2/templates/:name/jobs enqueues as the caller, overrides winning', async () => {
      const made = await rest('POST', '/api/v2/templates/acme-import/jobs', tokens['alice'], {
        payload: { rows: 2 },
        maxAttempts: 3,
      });
      expect(made.status).toBe(201);
      expect(made.body).toMatchObject({
        template: 'acme-import',
        type: 'import_file',
        status: 'queued',
        payload: { filename: 'acme.csv', rows: 2 },
      });
      const job = await jobdeck.getJob(made.body.jobId);
      expect(job.owner_id).toBe('alice');
      expect(job.org_id).toBe('acme');
      expect(job.max_attempts).toBe(3);
      expect(job.metadata).toEqual({ template: 'acme-import' });
    });

    it('answers 404 for another organisation’s template, 400 for a bad payload, 403 without the permission', async () => {
      const other = await rest('POST', '/api/v2/templates/acme-import/jobs', tokens['gus'], {});
      expect(other).toMatchObject({ status: 404, body: { error: 'not_found' } });
      const invalid = await rest('POST', '/api/v2/templates/nightly-import/jobs', tokens['alice'], {
        payload: { filename: '' },
      });
      expect(invalid).toMatchObject({ status: 400, body: { error: 'invalid_payload' } });
      const priority = await rest(
        'POST',
        '/api/v2/templates/nightly-import/jobs',
        tokens['alice'],
        {
          priority: -100,
        },
      );
      expect(priority).toMatchObject({ status: 400 });
      const viewer = await rest('POST', '/api/v2/templates/nightly-import/jobs', tokens['viewer']);
      expect(viewer).toMatchObject({ status: 403, body: { error: 'forbidden' } });
      expect(await jobCount()).toBe(0);
    });
  });

  describe('CLI', () => {
    it('sets, lists and deletes templates, and enqueues with --template', async () => {
      const env = { DATABASE_URL: t.url };
      const set = await runCli(
        [
          'template',
          'set',
          'cli-import',
          '--type',
          'import_file',
          '--payload',
          '{"filename":"cli.csv"}',
          '--priority',
          'low',
          '--queue',
          'cli',
        ],
        env,
      );
      expect(set.stderr).toBe('');
      expect(set.code).toBe(0);
      expect(set.stdout).toMatch(/saved template cli-import: type import_file, priority 10/);

      const list = await runCli(['template', 'list', '--json'], env);
      expect(JSON.parse(list.stdout).map((tpl: { name: string }) => tpl.name)).toEqual([
        'acme-import',
        'cli-import',
        'nightly-import',
      ]);

      const enqueued = await runCli(
        ['enqueue', '--template', 'cli-import', '{"rows":5}', '--priority', '2', '--json'],
        env,
      );
      expect(enqueued.code).toBe(0);
      const job = JSON.parse(enqueued.stdout);
      expect(job).toMatchObject({
        type: 'import_file',
        priority: 2,
        queue: 'cli',
        payload: { filename: 'cli.csv', rows: 5 },
        metadata: { template: 'cli-import' },
      });

      const unknown = await runCli(['enqueue', '--template', 'nope'], env);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toBe('jobdeck: job template "nope" not found\n');

      const deleted = await runCli(['template', 'delete', 'cli-import'], env);
      expect(deleted).toMatchObject({ code: 0, stdout: 'deleted template cli-import\n' });

      const usage = await runCli(['template', 'set', 'x'], env);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toMatch(/template set needs --type/);
    }, 60_000);
  });
});
