/**
 * Stack traces of job errors are for admins (docs/security.md, "Stack traces"): on every way a
 * job's errors leave the API, a user sees each error's message with `stack` null, an admin of the
 * organisation sees the stack.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Job } from '../../src/db/types.ts';
import { gql, tokenFor } from '../helpers/api.ts';
import { waitForStatus } from '../helpers/db.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { runTestWorker } from '../helpers/worker.ts';

const bed = useApiTestbed();
const tokens: Record<'alice' | 'admin', string> = { alice: '', admin: '' };
let failed: Job;

beforeAll(async () => {
  tokens.alice = await tokenFor('alice', 'acme');
  tokens.admin = await tokenFor('root', 'acme', { role: 'admin' });
  const job = await bed.jobdeck.enqueueJob(
    'export_report',
    { reportType: 'invalid_report', format: 'csv' },
    { ownerId: 'alice', orgId: 'acme' },
  );
  const worker = await runTestWorker(bed.t, bed.tasks);
  try {
    failed = await waitForStatus(bed.jobdeck, job.id, 'failed');
  } finally {
    await worker.stop();
  }
  // The stored record keeps the stack: trusted callers (the TypeScript client) read it as is.
  expect(failed.errors[0]!.stack).toMatch(/\n\s+at /);
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- bodies are checked by shape
async function get(path: string, token: string): Promise<any> {
  const response = await fetch(`${bed.server.url}${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(response.status).toBe(200);
  return response.json();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- messages are checked by shape
async function firstSocketMessage(token: string): Promise<any> {
  const url = `${bed.server.url.replace(/^http/, 'ws')}/ws/jobs/${failed.id}?token=${token}`;
  const ws = new WebSocket(url);
  try {
    return await new Promise((resolve, reject) => {
      ws.on('message', (data) => resolve(JSON.parse(String(data))));
      ws.on('error', reject);
    });
  } finally {
    ws.close();
  }
}

const message = expect.stringMatching(/invalid_report/);
const stack = expect.stringMatching(/\n\s+at /);

describe('stack traces of job errors', () => {
  it('GraphQL: a user gets errors and attempt history without stacks, an admin with them', async () => {
    const query = `query($id: UUID!) { job(id: $id) {
      errors attemptHistory { nodes { attempt error } } } }`;
    type Data = {
      job: {
        errors: Record<string, unknown>[];
        attemptHistory: { nodes: { attempt: number; error: Record<string, unknown> | null }[] };
      };
    };
    const asUser = await gql<Data>(bed.server, query, {
      variables: { id: failed.id },
      token: tokens.alice,
    });
    expect(asUser.errors).toBeUndefined();
    expect(asUser.data!.job.errors).toEqual([
      expect.objectContaining({ attempt: 1, message, stack: null }),
    ]);
    expect(asUser.data!.job.attemptHistory.nodes).toEqual([
      { attempt: 1, error: expect.objectContaining({ message, stack: null }) },
    ]);

    const asAdmin = await gql<Data>(bed.server, query, {
      variables: { id: failed.id },
      token: tokens.admin,
    });
    expect(asAdmin.errors).toBeUndefined();
    expect(asAdmin.data!.job.errors).toEqual([expect.objectContaining({ message, stack })]);
    expect(asAdmin.data!.job.attemptHistory.nodes[0]!.error).toMatchObject({ message, stack });
  });

  it('GraphQL: the errors column itself cannot be selected, filtered or ordered by', async () => {
    const type = await gql<{ __type: { fields: { name: string }[] } }>(
      bed.server,
      '{ __type(name: "Job") { fields { name } } }',
      { token: tokens.alice },
    );
    // `errors` is the computed column; nothing else spells the stored column
    expect(
      type.data!.__type.fields.filter((f) => /error/i.test(f.name)).map((f) => f.name),
    ).toEqual(['errors']);
  });

  it('Novus GET /api/v1/jobs/:id: error_context without the stack for a user', async () => {
    const user = await get(`/api/v1/jobs/${failed.id}`, tokens.alice);
    expect(user.error_message).toEqual(message);
    expect(user.error_context).toMatchObject({ message, stack: null });
    const admin = await get(`/api/v1/jobs/${failed.id}`, tokens.admin);
    expect(admin.error_context).toMatchObject({ message, stack });
  });

  it('OSINT GET /jobs/:id and /jobs: error_traceback null for a user, the stack for an admin', async () => {
    const user = await get(`/jobs/${failed.id}`, tokens.alice);
    expect(user).toMatchObject({ error_message: message, error_traceback: null });
    const admin = await get(`/jobs/${failed.id}`, tokens.admin);
    expect(admin).toMatchObject({ error_message: message, error_traceback: stack });
    const list = await get('/jobs?status=FAILED', tokens.alice);
    expect(list.find((j: { id: string }) => j.id === failed.id).error_traceback).toBeNull();
  });

  it('OSINT websocket /ws/jobs/:id: error_traceback null for a user, the stack for an admin', async () => {
    const user = await firstSocketMessage(tokens.alice);
    expect(user).toMatchObject({ type: 'job_failed', data: { error_message: message } });
    expect(user.data.error_traceback).toBeNull();
    const admin = await firstSocketMessage(tokens.admin);
    expect(admin.data.error_traceback).toEqual(stack);
  });

  it('C4 and its event stream carry the message only', async () => {
    const status = await get(`/v1/jobs/${failed.id}/status`, tokens.alice);
    expect(status.job.errorMessage).toEqual(message);
    // a finished job's stream sends its status and `end`, then closes
    const response = await fetch(`${bed.server.url}/v1/jobs/${failed.id}/events`, {
      headers: { authorization: `Bearer ${tokens.alice}` },
    });
    const text = await response.text();
    expect(text).toContain('invalid_report');
    expect(text).not.toMatch(/\\n\s+at /);
  });
});
