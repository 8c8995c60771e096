import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { InvalidArgumentError } from '../../src/errors.ts';
import { loadTasks, type TaskRegistry } from '../../src/jobs/registry.ts';
import { defineTask } from '../../src/jobs/task.ts';
import { verifyWebhook } from '../../src/jobs/webhooks.ts';
import { ROOT } from '../helpers/cli.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { deliveriesOf, registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

const SECRET = 'webhook-test-secret-of-at-least-32-chars';
// The delivery task reads its secret from the environment like any jobdeck process, and so does
// the guard its allow-list: the receiver here is on this machine, which webhooks may not reach
// unless allowed.
process.env['JOBDECK_WEBHOOK_SECRET'] = SECRET;
process.env['JOBDECK_WEBHOOK_ALLOW_INTERNAL'] = '127.0.0.1';

interface Received {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

let t: TestDatabase;
let jobdeck: Jobdeck;
let tasks: TaskRegistry;
let receiver: Server;
let base: string;
const received: Received[] = [];
/** Status codes the receiver answers with, one per request; 200 once they run out. */
const answers: number[] = [];

beforeAll(async () => {
  receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push({ path: request.url ?? '', headers: request.headers, body });
      response.writeHead(answers.shift() ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  t = await createTestDatabase();
  tasks = await loadTasks(path.join(ROOT, 'tasks'));
  tasks.set(
    'hooked',
    defineTask({
      webhook: `${base}/per-type`,
      payload: z.object({ fail: z.boolean().default(false) }),
      maxAttempts: 1,
      run({ payload }) {
        if (payload.fail) throw new Error('asked to fail');
        return { ok: true };
      },
    }),
  );
  await registerTasks(t, tasks);
  jobdeck = createJobdeck({ connectionString: t.url });
});

afterEach(async () => {
  expect(await stopWorkers()).toBe(0);
});

afterAll(async () => {
  await jobdeck?.close();
  await t?.drop();
  await new Promise((resolve) => receiver?.close(resolve));
});

const deliveriesFor = (jobId: string) => deliveriesOf(t, 'deliver_webhook', jobId);

describe('webhooks', () => {
  it('POST a signed body when a job succeeds, as a tracked delivery job', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const job = await jobdeck.enqueueJob(
        'export_report',
        { reportType: 'quotes', format: 'csv', stepDelayMs: 0 },
        { ownerId: 'ann', orgId: 'acme', webhookUrl: `${base}/hook?x=1` },
      );
      const delivery = await waitFor(() => received.find((r) => r.body.includes(job.id)));
      expect(delivery.path).toBe('/hook?x=1');
      expect(delivery.headers['content-type']).toBe('application/json');
      expect(delivery.headers['x-jobdeck-event']).toBe('job.succeeded');
      const signed = verifyWebhook(
        SECRET,
        {
          signature: delivery.headers['x-jobdeck-signature'] as string,
          timestamp: delivery.headers['x-jobdeck-timestamp'] as string,
        },
        delivery.body,
      );
      expect(signed).toBe(true);
      expect(
        verifyWebhook(
          'another-secret-another-secret-12345',
          {
            signature: delivery.headers['x-jobdeck-signature'] as string,
            timestamp: delivery.headers['x-jobdeck-timestamp'] as string,
          },
          delivery.body,
        ),
      ).toBe(false);
      const body = JSON.parse(delivery.body) as { event: string; job: Record<string, unknown> };
      expect(body).toMatchObject({
        event: 'job.succeeded',
        job: {
          id: job.id,
          type: 'export_report',
          status: 'succeeded',
          ownerId: 'ann',
          orgId: 'acme',
        },
      });
      const [tracked] = await waitFor(async () => {
        const rows = await deliveriesFor(job.id);
        return rows[0]?.status === 'succeeded' && rows;
      });
      // deliveries belong to no user: the URL is the app's, not the job owner's
      expect(tracked).toMatchObject({ owner_id: null, attempts: 1 });
    } finally {
      await worker.stop();
    }
  });

  it('retry a failing receiver with backoff until it answers 2xx', async () => {
    answers.push(500);
    const worker = await runTestWorker(t, tasks);
    try {
      const job = await jobdeck.enqueueJob('hooked', {}, { ownerId: 'ann', orgId: 'acme' });
      await waitFor(async () => (await deliveriesFor(job.id))[0]?.status === 'retrying', {
        what: 'the delivery to be retrying',
      });
      const [done] = await waitFor(
        async () => {
          const rows = await deliveriesFor(job.id);
          return rows[0]?.status === 'succeeded' && rows;
        },
        { timeoutMs: 20_000, what: 'the delivery to succeed on its second attempt' },
      );
      expect(done!.attempts).toBe(2);
      const calls = received.filter((r) => r.body.includes(job.id));
      expect(calls.map((r) => r.path)).toEqual(['/per-type', '/per-type']);
    } finally {
      await worker.stop();
    }
  });

  it('report failures as job.failed, and give up at once on a receiver’s 4xx', async () => {
    answers.push(410);
    const worker = await runTestWorker(t, tasks);
    try {
      const job = await jobdeck.enqueueJob('hooked', { fail: true });
      await waitForStatus(jobdeck, job.id, 'failed');
      const [delivery] = await waitFor(async () => {
        const rows = await deliveriesFor(job.id);
        return rows[0]?.status === 'failed' && rows;
      });
      expect(delivery!.attempts).toBe(1);
      const call = received.find((r) => r.body.includes(job.id))!;
      expect(JSON.parse(call.body)).toMatchObject({
        event: 'job.failed',
        job: { status: 'failed' },
      });
      const stored = await jobdeck.getJob(delivery!.id);
      expect(stored.errors[0]!.message).toMatch(/answered 410; not retried/);
    } finally {
      await worker.stop();
    }
  });

  it('refuse a webhook URL that is not http(s), writing nothing', async () => {
    const before = await t.pool.query('select count(*)::int as n from jobdeck.jobs');
    await expect(
      jobdeck.enqueueJob('hooked', {}, { webhookUrl: 'file:///etc/passwd' }),
    ).rejects.toThrow(InvalidArgumentError);
    await expect(
      t.pool.query(`select jobdeck.enqueue('hooked', '{}', webhook_url => 'ftp://x')`),
    ).rejects.toThrow(/webhook_url must be an http\(s\) URL/);
    const after = await t.pool.query('select count(*)::int as n from jobdeck.jobs');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });
});
