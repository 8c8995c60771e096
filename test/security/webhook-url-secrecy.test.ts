import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { JobdeckServer } from '../../src/http/server.ts';
import { defineTask } from '../../src/jobs/task.ts';
import type { Logger } from '../../src/logger.ts';
import { gql, tokenFor } from '../helpers/api.ts';
import { waitFor, type TestDatabase } from '../helpers/db.ts';
import { startReceiver, type Receiver } from '../helpers/net.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { registerTasks, runTestWorker } from '../helpers/worker.ts';

// The attack: a job's owner reads the webhook URL the application set on their job (and the
// secret in it) through the API, or an operator's log collector keeps it from a failed delivery.
process.env['JOBDECK_WEBHOOK_SECRET'] = 'secrecy-test-secret-of-at-least-32-characters';
process.env['JOBDECK_WEBHOOK_ALLOW_INTERNAL'] = '127.0.0.1';

/** The parts of the URLs below that are secrets: none may show anywhere. */
const SECRETS = ['pa55word', 'XyZsecretPath', 's3cretToken', 'token='];
const PUBLIC_URL =
  'https://user:pa55word@hooks.example.com/services/XyZsecretPath?token=s3cretToken';

const bed = useApiTestbed();
let t: TestDatabase;
let server: JobdeckServer;
let alice: string;
let acmeAdmin: string;
let jobId: string;
let receiver: Receiver;

beforeAll(async () => {
  ({ t, server } = bed);
  bed.tasks.set('quick', defineTask({ payload: z.object({}), maxAttempts: 1, run: () => ({}) }));
  await registerTasks(t, bed.tasks);
  alice = await tokenFor('alice', 'acme');
  acmeAdmin = await tokenFor('root', 'acme', { role: 'admin' });
  // never delivered: it runs in an hour
  const job = await bed.jobdeck.enqueueJob(
    'quick',
    {},
    {
      ownerId: 'alice',
      orgId: 'acme',
      webhookUrl: PUBLIC_URL,
      runAt: new Date(Date.now() + 3_600_000),
    },
  );
  jobId = job.id;
  receiver = await startReceiver('127.0.0.1', (_hit, response) => response.writeHead(410).end());
});

afterAll(async () => {
  await receiver?.close();
});

function expectNoSecret(text: string, where: string): void {
  for (const secret of SECRETS) expect(text, `${where} shows ${secret}`).not.toContain(secret);
}

describe('a job’s webhook URL through the API', () => {
  it('is no field, argument, filter or order of the GraphQL schema', async () => {
    const res = await gql(
      server,
      `{ __schema { types { name
           fields(includeDeprecated: true) { name args { name } }
           inputFields { name }
           enumValues(includeDeprecated: true) { name } } } }`,
      { token: alice },
    );
    expect(res.errors).toBeUndefined();
    const schema = JSON.stringify(res.data);
    expect(schema).toContain('"progress"');
    expect(schema).not.toMatch(/webhook/i);
  });

  it('cannot be queried, filtered or ordered by, even by the job’s owner', async () => {
    const direct = await gql(server, `query($id: UUID!) { job(id: $id) { id webhookUrl } }`, {
      token: alice,
      variables: { id: jobId },
    });
    expect(direct.data ?? null).toBeNull();
    expect(direct.errors?.[0]?.message).toMatch(/Cannot query field "webhookUrl" on type "Job"/);
    const filtered = await gql(
      server,
      `{ jobs(filter: { webhookUrl: { includes: "hooks" } }) { totalCount } }`,
      { token: acmeAdmin },
    );
    expect(filtered.errors?.[0]?.message).toMatch(/webhookUrl/);
    const own = await gql<{ job: Record<string, unknown> }>(
      server,
      `query($id: UUID!) { job(id: $id) { id type status payload metadata } }`,
      { token: alice, variables: { id: jobId } },
    );
    expect(own.data?.job).toMatchObject({ id: jobId, type: 'quick' });
    expectNoSecret(JSON.stringify(own), 'GraphQL job');
  });

  it('is in no REST job detail or list', async () => {
    for (const [path, token] of [
      [`/api/v1/jobs/${jobId}`, alice],
      [`/jobs/${jobId}`, alice],
      [`/v1/jobs/${jobId}/status`, alice],
      ['/v1/jobs', alice],
      ['/api/v1/admin/jobs', acmeAdmin],
    ] as const) {
      const response = await fetch(`${server.url}${path}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(response.status, path).toBe(200);
      const body = await response.text();
      expect(body, path).toContain(jobId);
      expect(body, path).not.toMatch(/webhook|hooks\.example\.com/i);
    }
  });
});

describe('a failed delivery', () => {
  it('names the receiver by scheme, host and port only: in the log, the error and the job’s record', async () => {
    const lines: string[] = [];
    const logger: Logger = {
      debug: (line) => lines.push(line),
      info: (line) => lines.push(line),
      warn: (line) => lines.push(line),
      error: (line) => lines.push(line),
    };
    const refused = `${receiver.origin.replace('//', '//user:pa55word@')}/hook/XyZsecretPath?token=s3cretToken`;
    // a port nothing listens on: a network error, retried
    const unreachable = `http://user:pa55word@127.0.0.1:9/XyZsecretPath?token=s3cretToken`;
    const worker = await runTestWorker(t, bed.tasks, { logger });
    try {
      const first = await bed.jobdeck.enqueueJob('quick', {}, { webhookUrl: refused });
      const second = await bed.jobdeck.enqueueJob('quick', {}, { webhookUrl: unreachable });
      const deliveryOf = async (id: string) =>
        (
          await t.pool.query<{ id: string; status: string; errors: unknown; result: unknown }>(
            `select id, status, errors, result from jobdeck.jobs
              where type = 'deliver_webhook' and related_id = $1`,
            [id],
          )
        ).rows[0];
      const failed = await waitFor(async () => {
        const row = await deliveryOf(first.id);
        return row?.status === 'failed' && row;
      });
      const retrying = await waitFor(async () => {
        const row = await deliveryOf(second.id);
        return row?.status === 'retrying' && row;
      });
      await bed.jobdeck.cancelJob(retrying.id);
      // the receiver got the delivery (with its credentials, as Basic auth), and answered 410
      expect(receiver.hits).toHaveLength(1);
      expect(receiver.hits[0]!.url).toBe('/hook/XyZsecretPath?token=s3cretToken');
      const failure = lines.find((line) => line.includes(failed.id));
      expect(failure).toBe(
        `deliver_webhook job ${failed.id} failed on attempt 1: POST ${receiver.origin}/… answered 410; not retried (the receiver refused the delivery)`,
      );
      const retry = lines.find((line) => line.includes(retrying.id));
      expect(retry).toMatch(
        new RegExp(
          `^deliver_webhook job ${retrying.id} attempt 1 failed, will retry: POST http://127\\.0\\.0\\.1:9/… failed: `,
        ),
      );
      expectNoSecret(lines.join('\n'), 'the worker log');
      expectNoSecret(JSON.stringify([failed, retrying]), 'the delivery jobs');
      const events = await t.pool.query(
        `select message from jobdeck.job_events where job_id = any($1)`,
        [[failed.id, retrying.id]],
      );
      expectNoSecret(JSON.stringify(events.rows), 'the delivery events');
    } finally {
      await worker.stop();
    }
  });
});
