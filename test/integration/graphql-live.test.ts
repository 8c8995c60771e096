import { beforeAll, describe, expect, it } from 'vitest';
import type { Jobdeck } from '../../src/client.ts';
import { verifyToken } from '../../src/auth/tokens.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { TEST_JWT_SECRET, gql, startTestServer, subscribe, tokenFor } from '../helpers/api.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { waitFor, type TestDatabase } from '../helpers/db.ts';
import { runTestWorker } from '../helpers/worker.ts';

let t: TestDatabase;
let jobdeck: Jobdeck;
let server: JobdeckServer;
let tasks: TaskRegistry;

interface Change {
  kind: string;
  id: string | null;
  status: string | null;
  progress: number | null;
  job: {
    status: string;
    progress: number;
    currentStep: string | null;
    etaAt: string | null;
  } | null;
}

const CHANGE_FIELDS = 'kind id status progress job { status progress currentStep etaAt }';

const bed = useApiTestbed();

beforeAll(async () => {
  ({ t, jobdeck, server, tasks } = bed);
});

describe('live subscriptions', () => {
  it('push a running import_file job’s progress, step and ETA to its owner until it completes', async () => {
    const alice = await tokenFor('alice', 'acme');
    const admin = await tokenFor('boss', 'acme', { role: 'admin' });
    const enqueued = await gql<{ enqueueJob: { job: { id: string } } }>(
      server,
      `mutation { enqueueJob(input: { type: "import_file", payload: { filename: "people.csv", rows: 50, stepDelayMs: 60 },
         runAt: "2099-01-01T00:00:00Z" }) { job { id } } }`,
      { token: alice },
    );
    const id = enqueued.data!.enqueueJob.job.id;
    // subscribe first, then act (and query)
    const one = await subscribe<{ jobUpdated: Change }>(
      server,
      `subscription($id: UUID!) { jobUpdated(id: $id) { ${CHANGE_FIELDS} } }`,
      { token: alice, variables: { id } },
    );
    const mine = await subscribe<{ myJobsChanged: Change }>(
      server,
      `subscription { myJobsChanged { ${CHANGE_FIELDS} } }`,
      { token: alice },
    );
    const org = await subscribe<{ orgJobsChanged: Change }>(
      server,
      `subscription { orgJobsChanged { ${CHANGE_FIELDS} } }`,
      { token: admin },
    );
    await t.pool.query(
      `update graphile_worker._private_jobs set run_at = now() where id = (select gw_job_id from jobdeck.jobs where id = $1)`,
      [id],
    );
    await t.pool.query(`update jobdeck.jobs set run_at = now() where id = $1`, [id]);
    const worker = await runTestWorker(t, tasks);
    await one.next((e) => e.jobUpdated.status === 'succeeded').finally(() => worker.stop());
    const events = one.events.map((e) => e.jobUpdated);
    expect(events.every((e) => e.kind === 'CHANGED' && e.id === id)).toBe(true);
    // Status and progress are the row's when the server re-read it after a notification: a
    // value overtaken before the read is not sent, but what is sent only moves forward.
    const progress = events.map((e) => e.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a! - b!));
    expect(progress.filter((p) => p! > 0 && p! < 100).length).toBeGreaterThanOrEqual(2);
    expect(progress).toContain(100);
    const running = events.find((e) => e.status === 'running' && e.progress! > 0)!;
    expect(running.job).toMatchObject({ status: 'running', currentStep: expect.any(String) });
    expect(events.some((e) => e.job?.etaAt)).toBe(true);
    expect(events.at(-1)!.job).toMatchObject({ status: 'succeeded', progress: 100, etaAt: null });
    await mine.next((e) => e.myJobsChanged.status === 'succeeded');
    await org.next((e) => e.orgJobsChanged.status === 'succeeded');
    expect(org.events.every((e) => e.orgJobsChanged.id === id)).toBe(true);
  });

  it('tell subscribers to re-query after the LISTEN connection was dropped, and keep delivering', async () => {
    const carol = await tokenFor('carol', 'acme');
    const sub = await subscribe<{ myJobsChanged: Change }>(
      server,
      `subscription { myJobsChanged { kind id status } }`,
      { token: carol },
    );
    await t.pool.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where datname = current_database() and application_name = 'jobdeck-listener'`,
    );
    await sub.next((e) => e.myJobsChanged.kind === 'RECONNECTED');
    const job = await jobdeck.enqueueJob(
      'export_report',
      { reportType: 'quotes', format: 'csv' },
      { ownerId: 'carol', orgId: 'acme', runAt: new Date(Date.now() + 3_600_000) },
    );
    const change = await sub.next((e) => e.myJobsChanged.id === job.id);
    expect(change.myJobsChanged).toMatchObject({ kind: 'CHANGED', status: 'queued' });
  });
});

describe('the server', () => {
  it('closes gracefully: open subscriptions end and the port is released', async () => {
    const own = await startTestServer(t);
    const sub = await subscribe(own, `subscription { myJobsChanged { id } }`, {
      token: await tokenFor('dave', 'acme'),
    });
    await own.close();
    await waitFor(() => sub.errors.length > 0 || own.changes.activeSubscriptions === 0, {
      what: 'the subscription to end',
    });
    expect(own.changes.activeSubscriptions).toBe(0);
    await expect(fetch(`${own.url}/healthz`)).rejects.toThrow();
  });
});

describe('the CLI', () => {
  it('`jobdeck token` prints a token the server accepts, and names bad flags', async () => {
    const env = { DATABASE_URL: t.url, JOBDECK_JWT_SECRET: TEST_JWT_SECRET };
    const printed = await runCli(
      ['token', '--user', 'erin', '--org', 'acme', '--role', 'admin', '--ttl', '2h'],
      env,
    );
    expect(printed.code).toBe(0);
    const token = printed.stdout.trim();
    const identity = await verifyToken(token, TEST_JWT_SECRET);
    expect(identity).toMatchObject({ userId: 'erin', orgId: 'acme', role: 'admin' });
    expect(identity.expiresAt.getTime() - Date.now()).toBeGreaterThan(7_000_000);
    const res = await gql(server, '{ jobs { totalCount } }', { token });
    expect(res.errors).toBeUndefined();
    for (const [args, message] of [
      [['token', '--user', 'erin'], /needs --user and --org/],
      [
        ['token', '--user', 'erin', '--org', 'acme', '--role', 'owner'],
        /--role must be user or admin/,
      ],
      [['token', '--user', 'erin', '--org', 'acme', '--ttl', 'soon'], /not a duration/],
      [
        ['token', '--user', 'erin', '--org', 'acme', '--permissions', 'jobs.nuke'],
        /unknown "jobs.nuke"/,
      ],
    ] as const) {
      const bad = await runCli([...args], env);
      expect(bad.code, args.join(' ')).toBe(2);
      expect(bad.stderr + bad.stdout).toMatch(message);
    }
  });

  it('`jobdeck serve` answers /healthz and GraphQL, then stops cleanly on SIGTERM', async () => {
    const serve = await startCli(['serve'], {
      DATABASE_URL: t.url,
      JOBDECK_PORT: '0',
      JOBDECK_JWT_SECRET: TEST_JWT_SECRET,
      JOBDECK_LOG_LEVEL: 'warn',
    });
    const url = /GraphQL: (http:\/\/[^\s]+)\/graphql/.exec(serve.output())![1]!;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const job = await jobdeck.enqueueJob(
      'export_report',
      { reportType: 'quotes', format: 'csv' },
      { ownerId: 'frank', orgId: 'acme', runAt: new Date(Date.now() + 3_600_000) },
    );
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${await tokenFor('frank', 'acme')}`,
      },
      body: JSON.stringify({ query: '{ activeJobs { nodes { id } } }' }),
    });
    expect(await response.json()).toEqual({ data: { activeJobs: { nodes: [{ id: job.id }] } } });
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    expect(serve.output()).not.toMatch(/GRAPHILE_ENV/);
  });
});
