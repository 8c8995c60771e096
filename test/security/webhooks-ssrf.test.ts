import { lookup } from 'node:dns/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { InvalidArgumentError, WebhookTargetError } from '../../src/errors.ts';
import { postWebhook } from '../../src/jobs/webhook-post.ts';
import { webhookAllowList } from '../../src/jobs/webhook-targets.ts';
import { loadTasks, type TaskRegistry } from '../../src/jobs/registry.ts';
import { defineTask } from '../../src/jobs/task.ts';
import { isLoopbackAddress } from '../../src/util/addresses.ts';
import { ROOT } from '../helpers/cli.ts';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/db.ts';
import { startReceiver, type Receiver } from '../helpers/net.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

// The attack: a job's webhook URL names this machine or its network, and jobdeck's worker would
// send a signed POST there. Every target below is a real HTTP server on this machine recording
// its requests; each must get none.
process.env['JOBDECK_WEBHOOK_SECRET'] = 'ssrf-test-secret-of-at-least-32-characters';
delete process.env['JOBDECK_WEBHOOK_ALLOW_INTERNAL'];

let t: TestDatabase;
let jobdeck: Jobdeck;
let tasks: TaskRegistry;
let v4: Receiver;
let v6: Receiver;

beforeAll(async () => {
  v4 = await startReceiver('127.0.0.1');
  v6 = await startReceiver('::1');
  t = await createTestDatabase();
  tasks = await loadTasks(path.join(ROOT, 'tasks'));
  tasks.set('quick', defineTask({ payload: z.object({}), maxAttempts: 1, run: () => ({}) }));
  await registerTasks(t, tasks);
  jobdeck = createJobdeck({ connectionString: t.url });
});

afterEach(async () => {
  delete process.env['JOBDECK_WEBHOOK_ALLOW_INTERNAL'];
  expect(await stopWorkers()).toBe(0);
});

afterAll(async () => {
  await jobdeck?.close();
  await t?.drop();
  await v4?.close();
  await v6?.close();
});

/** Spellings of this machine that reach the receivers (each parses to a loopback address). */
const LOOPBACK: [name: string, url: (v4: number, v6: number) => string][] = [
  ['127.0.0.1', (p) => `http://127.0.0.1:${p}/hook`],
  ['[::1]', (_, p6) => `http://[::1]:${p6}/hook`],
  ['localhost', (p) => `http://localhost:${p}/hook`],
  ['0x7f000001', (p) => `http://0x7f000001:${p}/hook`],
  ['2130706433', (p) => `http://2130706433:${p}/hook`],
  ['0177.0.0.1 (octal)', (p) => `http://0177.0.0.1:${p}/hook`],
  ['[::ffff:127.0.0.1]', (p) => `http://[::ffff:127.0.0.1]:${p}/hook`],
];
const loopbackUrls = (): [name: string, url: string][] =>
  LOOPBACK.map(([name, url]) => [name, url(v4.port, v6.port)]);
const later = () => new Date(Date.now() + 3_600_000);

const jobCount = async () =>
  (await t.pool.query<{ n: number }>('select count(*)::int as n from jobdeck.jobs')).rows[0]!.n;

const deliveryOf = (jobId: string) =>
  t.pool
    .query<{ status: string; attempts: number; errors: { message: string }[] }>(
      `select status, attempts, errors from jobdeck.jobs
        where type = 'deliver_webhook' and related_id = $1`,
      [jobId],
    )
    .then((r) => r.rows[0]);

describe('enqueue refuses a webhook URL whose host is internal on its face', () => {
  it.each(LOOPBACK)('%s, writing nothing', async (_name, urlOf) => {
    const url = urlOf(v4.port, v6.port);
    const before = await jobCount();
    const error = await jobdeck
      .enqueueJob('quick', {}, { webhookUrl: url })
      .catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(
      /^webhookUrl refused: webhook (address \S+ is not public \(loopback\)|host localhost is this machine); add it to JOBDECK_WEBHOOK_ALLOW_INTERNAL/,
    );
    expect(await jobCount()).toBe(before);
  });

  it.each([
    ['cloud metadata 169.254.169.254', 'http://169.254.169.254/latest/meta-data/', 'linkLocal'],
    ['RFC 1918 10.1.2.3', 'https://10.1.2.3/hook', 'private'],
    ['RFC 1918 192.168.1.1', 'http://192.168.1.1/', 'private'],
    ['CGNAT 100.64.0.1', 'http://100.64.0.1/', 'carrierGradeNat'],
    ['unspecified 0.0.0.0', 'http://0.0.0.0/', 'unspecified'],
    ['unique-local [fd00::1]', 'http://[fd00::1]/', 'uniqueLocal'],
    ['link-local [fe80::1]', 'http://[fe80::1]/', 'linkLocal'],
    ['IPv4-mapped [::ffff:10.0.0.1]', 'http://[::ffff:10.0.0.1]/', 'private'],
    ['NAT64 [64:ff9b::7f00:1]', 'http://[64:ff9b::7f00:1]/', 'rfc6052'],
  ])('%s', async (_name, url, range) => {
    await expect(jobdeck.enqueueJob('quick', {}, { webhookUrl: url })).rejects.toThrow(
      new RegExp(`is not public \\(${range}\\)`),
    );
  });

  it('accepts a public host, and an internal one the allow-list names', async () => {
    await expect(
      jobdeck.enqueueJob(
        'quick',
        {},
        { webhookUrl: 'https://hooks.example.com/x', runAt: later() },
      ),
    ).resolves.toMatchObject({ status: 'queued' });
    const allowed = createJobdeck({
      connectionString: t.url,
      webhookAllowInternal: ['10.0.0.0/8'],
    });
    try {
      await expect(
        allowed.enqueueJob('quick', {}, { webhookUrl: 'http://10.1.2.3/', runAt: later() }),
      ).resolves.toMatchObject({ status: 'queued' });
    } finally {
      await allowed.close();
    }
  });
});

describe('delivery resolves the host and refuses internal addresses', () => {
  it('refuses every spelling of this machine, also names that resolve to it, and sends nothing', async () => {
    const targets = loopbackUrls();
    // A DNS name (not an IP literal, nor `localhost`) resolving to loopback: this machine's own
    // name where the resolver maps it so (passes enqueue's check; refused after resolution).
    const hostname = os.hostname();
    const resolved = await lookup(hostname, { all: true }).catch(() => []);
    if (resolved.length > 0 && resolved.every((a) => isLoopbackAddress(a.address)))
      targets.push([`${hostname} (resolves to loopback)`, `http://${hostname}:${v4.port}/hook`]);
    // URLs stored by a path the client's check does not guard (SQL, or stored before the guard)
    const jobs: [name: string, id: string][] = [];
    for (const [name, url] of targets) {
      const { rows } = await t.pool.query<{ id: string }>(
        `select id from jobdeck.enqueue('quick', '{}', webhook_url => $1)`,
        [url],
      );
      jobs.push([name, rows[0]!.id]);
    }
    const worker = await runTestWorker(t, tasks);
    try {
      for (const [name, id] of jobs) {
        const delivery = await waitFor(
          async () => {
            const row = await deliveryOf(id);
            return row?.status === 'failed' && row;
          },
          { what: `the delivery for ${name} to fail` },
        );
        // refused for good at once: a policy decision is not worth a retry
        expect(delivery.attempts, name).toBe(1);
        expect(delivery.errors[0]!.message, name).toMatch(
          /^POST http:\/\/\S+ refused: webhook (address \S+|host \S+ resolves to \S+, which) is not public \((loopback|ipv4Mapped)\); add it to JOBDECK_WEBHOOK_ALLOW_INTERNAL/,
        );
      }
    } finally {
      await worker.stop();
    }
    expect(v4.hits).toEqual([]);
    expect(v6.hits).toEqual([]);
  });

  it('does not follow a redirect from an allowed target to an internal one', async () => {
    const redirector = await startReceiver('127.0.0.2', (_hit, response) =>
      response.writeHead(307, { location: `${v4.origin}/internal?token=s3cret` }).end(),
    );
    process.env['JOBDECK_WEBHOOK_ALLOW_INTERNAL'] = '127.0.0.2';
    const worker = await runTestWorker(t, tasks);
    try {
      const job = await jobdeck.enqueueJob(
        'quick',
        {},
        { webhookUrl: `${redirector.origin}/hook` },
      );
      const delivery = await waitFor(async () => {
        const row = await deliveryOf(job.id);
        return row?.status === 'failed' && row;
      });
      expect(delivery.attempts).toBe(1);
      expect(delivery.errors[0]!.message).toBe(
        `POST ${redirector.origin}/… answered 307 (a redirect to ${v4.origin}/…); not followed: point the webhook at the final URL`,
      );
      expect(redirector.hits).toHaveLength(1);
      expect(v4.hits).toEqual([]);
    } finally {
      await worker.stop();
      await redirector.close();
    }
  });
});

describe('postWebhook()', () => {
  const send = (url: string, options: Partial<Parameters<typeof postWebhook>[0]> = {}) =>
    postWebhook({
      url,
      headers: { 'content-type': 'application/json' },
      body: '{}',
      allow: webhookAllowList([]),
      signal: AbortSignal.timeout(5_000),
      ...options,
    });

  it('refuses a name when any of its addresses is internal', async () => {
    const error = await send(`http://hooks.example.test:${v4.port}/`, {
      lookup: async () => [
        { address: '93.184.215.14', family: 4 },
        { address: '127.0.0.1', family: 4 },
      ],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebhookTargetError);
    expect((error as Error).message).toBe(
      'webhook host hooks.example.test resolves to 127.0.0.1, which is not public (loopback); add it to JOBDECK_WEBHOOK_ALLOW_INTERNAL to allow it',
    );
    expect(v4.hits).toEqual([]);
  });

  it('connects to the address it checked, resolving the name once, with the name as Host', async () => {
    const receiver = await startReceiver('127.0.0.2');
    let lookups = 0;
    try {
      const answer = await send(`http://hooks.example.test:${receiver.port}/in`, {
        allow: webhookAllowList(['127.0.0.2/32']),
        lookup: async () => {
          lookups++;
          return [{ address: '127.0.0.2', family: 4 }];
        },
      });
      expect(answer).toEqual({ status: 200, location: null });
      expect(lookups).toBe(1);
      expect(receiver.hits).toMatchObject([
        { method: 'POST', url: '/in', headers: { host: `hooks.example.test:${receiver.port}` } },
      ]);
    } finally {
      await receiver.close();
    }
  });
});
