import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTasks, type TaskRegistry } from '../../src/jobs/registry.ts';
import { gql, tokenFor } from '../helpers/api.ts';
import { ROOT } from '../helpers/cli.ts';
import { waitForStatus } from '../helpers/db.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { registerTasks, runTestWorker } from '../helpers/worker.ts';

const bed = useApiTestbed();
let fixtures: TaskRegistry;
let alice: string;
let bob: string;

beforeAll(async () => {
  const all = await loadTasks(path.join(ROOT, 'test/fixtures/tasks'));
  fixtures = new Map([...all].filter(([type]) => type === 'durable_steps'));
  await registerTasks(bed.t, fixtures);
  await bed.t.pool.query(
    'create table step_runs (job_id uuid, step int, attempt int, hang boolean default false)',
  );
  alice = await tokenFor('alice', 'acme');
  bob = await tokenFor('bob', 'acme');
});

describe('durable steps through the API', () => {
  it('shows step results in GraphQL (Job.steps) and REST, to whoever may see the job', async () => {
    const worker = await runTestWorker(bed.t, fixtures);
    try {
      const { jobdeck, server } = bed;
      const job = await jobdeck.enqueueJob(
        'durable_steps',
        { failAt: 2 },
        { ownerId: 'alice', orgId: 'acme' },
      );
      await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 30_000 });

      const res = await gql<{
        job: { steps: { name: string; result: unknown; attempt: number; completedAt: string }[] };
      }>(server, 'query($id: UUID!) { job(id: $id) { steps } }', {
        token: alice,
        variables: { id: job.id },
      });
      expect(res.errors).toBeUndefined();
      expect(res.data!.job.steps.map((s) => [s.name, s.result, s.attempt])).toEqual([
        ['step-1', 10, 1],
        ['step-2', 20, 2],
        ['step-3', 30, 2],
        ['step-4', 40, 2],
        ['step-5', 50, 2],
      ]);

      const rest = await fetch(`${server.url}/api/v1/jobs/${job.id}/steps`, {
        headers: { authorization: `Bearer ${alice}` },
      });
      expect(rest.status).toBe(200);
      const body = (await rest.json()) as { job_id: string; steps: Record<string, unknown>[] };
      expect(body.job_id).toBe(job.id);
      expect(body.steps[0]).toMatchObject({
        name: 'step-1',
        position: 0,
        kind: 'run',
        result: 10,
        attempt: 1,
        completed_at: expect.any(String),
      });
      // Another user of the organisation sees neither the job nor its steps
      const hidden = await fetch(`${server.url}/api/v1/jobs/${job.id}/steps`, {
        headers: { authorization: `Bearer ${bob}` },
      });
      expect(hidden.status).toBe(404);
      const asBob = await gql<{ job: unknown }>(
        server,
        'query($id: UUID!) { job(id: $id) { steps } }',
        { token: bob, variables: { id: job.id } },
      );
      expect(asBob.data!.job).toBeNull();
    } finally {
      await worker.stop();
    }
  });

  it('retries from GraphQL with keepSteps: false, and keeps them by default (REST retry)', async () => {
    let worker = await runTestWorker(bed.t, fixtures);
    try {
      const { jobdeck, server } = bed;
      const job = await jobdeck.enqueueJob(
        'durable_steps',
        {},
        { ownerId: 'alice', orgId: 'acme' },
      );
      await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 30_000 });
      // No worker while retrying, so the payload shows the job before it runs again
      await worker.stop();
      await bed.t.pool.query(`update jobdeck.jobs set status = 'failed' where id = $1`, [job.id]);
      const retried = await gql<{ retryJob: { job: { status: string; steps: unknown[] } } }>(
        server,
        'mutation($id: UUID!) { retryJob(input: { id: $id, keepSteps: false }) { job { status steps } } }',
        { token: alice, variables: { id: job.id } },
      );
      expect(retried.errors).toBeUndefined();
      expect(retried.data!.retryJob.job).toEqual({ status: 'queued', steps: [] });
      worker = await runTestWorker(bed.t, fixtures);
      await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 30_000 });
      await worker.stop();

      await bed.t.pool.query(`update jobdeck.jobs set status = 'failed' where id = $1`, [job.id]);
      const viaRest = await fetch(`${server.url}/v1/jobs/${job.id}/retry`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice}` },
      });
      expect(viaRest.status).toBe(200);
      expect(await jobdeck.getJobSteps(job.id)).toHaveLength(5);
      worker = await runTestWorker(bed.t, fixtures);
      await waitForStatus(jobdeck, job.id, 'succeeded', { timeoutMs: 30_000 });
      const { rows } = await bed.t.pool.query<{ step: number; n: number }>(
        'select step, count(*)::int as n from step_runs where job_id = $1 group by step order by step',
        [job.id],
      );
      expect(rows.map((r) => r.n)).toEqual([2, 2, 2, 2, 2]);
    } finally {
      await worker.stop();
    }
  });
});
