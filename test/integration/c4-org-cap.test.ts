import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { loadTasks } from '../../src/jobs/registry.ts';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';
import { ROOT, startCli } from '../helpers/cli.ts';

type Child = Awaited<ReturnType<typeof startCli>>;

/**
 * Seed 004's "Max concurrent jobs: 5 per organization", on by default for its job types: real
 * `notification` jobs on two `jobdeck worker` processes. The notification hook below holds every
 * request until the test lets go, so the jobs it has received are exactly the ones running.
 */
describe('the seed 004 job types, 5 per organisation by default', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;
  let dataDir: string;
  let hook: Server;
  let hookUrl: string;
  let holding = true;
  const waiting: ServerResponse[] = [];
  const inFlight = new Map<string, number>();
  const peak = new Map<string, number>();
  const orgOf = new Map<string, string>();
  const children: Child[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    jobdeck = createJobdeck({ pool: t.pool });
    dataDir = mkdtempSync(path.join(tmpdir(), 'jobdeck-c4-cap-'));
    await registerTasks(t, await loadTasks(path.join(ROOT, 'tasks')));
    hook = createServer((request: IncomingMessage, response: ServerResponse) => {
      let text = '';
      request.on('data', (chunk: Buffer) => (text += chunk.toString()));
      request.on('end', () => {
        const { notificationId } = JSON.parse(text) as { notificationId: string };
        const org = orgOf.get(notificationId) ?? '?';
        inFlight.set(org, (inFlight.get(org) ?? 0) + 1);
        peak.set(org, Math.max(peak.get(org) ?? 0, inFlight.get(org)!));
        response.on('finish', () => inFlight.set(org, inFlight.get(org)! - 1));
        if (holding) waiting.push(response);
        else response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/notify`;
  });
  afterAll(async () => {
    const running = children.splice(0);
    for (const c of running) c.child.kill('SIGTERM');
    await Promise.all(running.map((c) => c.exited));
    for (const response of waiting.splice(0)) response.writeHead(204).end();
    await new Promise((resolve) => hook.close(resolve));
    await jobdeck.close();
    await t.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function heldJobs(org: string): Promise<string[]> {
    const { rows } = await t.pool.query<{ job_id: string }>(
      `select distinct e.job_id from jobdeck.job_events e join jobdeck.jobs j on j.id = e.job_id
        where j.org_id = $1 and e.message like 'held:%'`,
      [org],
    );
    return rows.map((r) => r.job_id);
  }

  it('runs at most 5 jobs of one organisation at once across two workers, holding the rest', async () => {
    const env = {
      DATABASE_URL: t.url,
      JOBDECK_DATA_DIR: dataDir,
      JOBDECK_TASKS_DIR: path.join(ROOT, 'tasks'),
      JOBDECK_CRONTAB: path.join(ROOT, 'test/fixtures/no-crontab'),
      JOBDECK_POLL_INTERVAL_MS: '200',
      JOBDECK_LOG_LEVEL: 'warn',
      JOBDECK_CONCURRENCY: '5',
      // No local queue: a worker fetches only jobs it can start, so the other process gets the rest.
      JOBDECK_LOCAL_QUEUE_SIZE: '0',
      JOBDECK_WEBHOOK_ALLOW_INTERNAL: '127.0.0.1',
      JOBDECK_WEBHOOK_TIMEOUT_MS: '120000',
    };
    children.push(...(await Promise.all([startCli(['worker'], env), startCli(['worker'], env)])));
    const payload = { url: hookUrl, title: 'Export ready', message: 'Your export is ready' };
    const jobs = await jobdeck.enqueueJobs([
      ...Array.from({ length: 7 }, () => ({ type: 'notification', orgId: 'acme', payload })),
      ...Array.from({ length: 2 }, () => ({ type: 'notification', orgId: 'globex', payload })),
    ]);
    jobs.forEach((job) => orgOf.set(job.id, job.org_id!));
    const acme = jobs.filter((j) => j.org_id === 'acme').map((j) => j.id);

    // Five of acme's and both of globex's reach the hook and wait there; acme's other two are held.
    const held = await waitFor(
      async () => {
        const { rows } = await t.pool.query<{ id: string }>(
          'select id from jobdeck.jobs where id = any($1) and held_at is not null',
          [acme],
        );
        return (
          inFlight.get('acme') === 5 && inFlight.get('globex') === 2 && rows.length === 2 && rows
        );
      },
      { timeoutMs: 30_000, what: '5 acme jobs running, 2 held, and both globex jobs running' },
    ).catch(async (error: unknown) => {
      const { rows } = await t.pool.query(
        `select j.org_id, j.status, j.held_at is not null as held, j.worker_id, j.errors,
                (select json_agg(e.message) from jobdeck.job_events e where e.job_id = j.id) as events
           from jobdeck.jobs j where j.id = any($1)`,
        [jobs.map((j) => j.id)],
      );
      console.error(JSON.stringify({ inFlight: [...inFlight], rows }, null, 1));
      for (const c of children) console.error(c.output());
      throw error;
    });
    const { rows: states } = await t.pool.query<{ status: string; n: number }>(
      `select status, count(*)::int as n from jobdeck.jobs where id = any($1) group by status`,
      [acme],
    );
    expect(Object.fromEntries(states.map((r) => [r.status, r.n]))).toEqual({
      running: 5,
      queued: 2,
    });
    const events = await t.pool.query<{ message: string }>(
      `select distinct message from jobdeck.job_events where job_id = any($1) and message like 'held:%'`,
      [held.map((r) => r.id)],
    );
    expect(events.rows.map((r) => r.message)).toEqual([
      'held: organisation "acme" is at its concurrency limit for task type "notification" (5)',
    ]);
    expect(await heldJobs('globex')).toEqual([]);

    // Let the hook answer: the held two run as slots free, and everything succeeds.
    holding = false;
    for (const response of waiting.splice(0)) response.writeHead(204).end();
    await waitFor(
      async () => {
        const { rows } = await t.pool.query<{ n: number }>(
          `select count(*)::int as n from jobdeck.jobs where id = any($1) and status = 'succeeded'`,
          [jobs.map((j) => j.id)],
        );
        return rows[0]!.n === jobs.length;
      },
      { timeoutMs: 30_000, what: 'all notifications to succeed' },
    );
    expect(peak.get('acme')).toBe(5);
    expect(peak.get('globex')).toBe(2);
    expect((await heldJobs('acme')).sort()).toEqual(held.map((r) => r.id).sort());
    const workers = await t.pool.query<{ n: number }>(
      'select count(distinct worker_id)::int as n from jobdeck.jobs where id = any($1)',
      [jobs.map((j) => j.id)],
    );
    // Both processes ran some (each runs at most 5 at once, and 7 ran at once).
    expect(workers.rows[0]!.n).toBe(2);
  });
});
