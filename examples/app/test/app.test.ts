import type { ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createJobdeck, type Jobdeck } from 'jobdeck';
import { buildApp } from '../src/server.ts';
import { startWorkerProcess, stopProcess, waitFor } from './helpers.ts';

const databaseUrl = inject('databaseUrl');

/** What an OTLP/HTTP (JSON) trace export carries, as far as these tests read it. */
interface OtlpSpan {
  name: string;
  spanId: string;
  parentSpanId?: string;
  attributes: { key: string; value: { stringValue?: string } }[];
}
interface Otlp {
  resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
}

describe('the example application, with jobdeck installed from its tarball', () => {
  let worker: ChildProcess;
  let app: FastifyInstance;
  let base: string;
  let jobdeck: Jobdeck;
  let owner: pg.Pool;
  const cookies = new Map<string, string>();
  let collector: Server;
  const traces: Otlp[] = [];

  /** Logs a user in through the application's own route and keeps its session cookie. */
  async function logIn(user: string): Promise<string> {
    const response = await fetch(`${base}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user, password: `${user}-password` }),
    });
    expect(response.status).toBe(200);
    const cookie = response.headers.getSetCookie()[0]!.split(';')[0]!;
    cookies.set(user, cookie);
    return cookie;
  }

  function as(user: string, path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${base}${path}`, {
      ...init,
      headers: {
        'content-type': 'application/json',
        ...(init.headers as Record<string, string>),
        cookie: cookies.get(user) ?? '',
      },
    });
  }

  async function graphql(user: string, query: string, variables = {}) {
    const response = await as(user, '/jobs-api/graphql', {
      method: 'POST',
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
  }

  async function upload(user: string, filename: string, content: string) {
    return as(user, '/uploads', { method: 'POST', body: JSON.stringify({ filename, content }) });
  }

  beforeAll(async () => {
    // The worker exports its traces over OTLP/HTTP to this receiver (JOBDECK_OTEL=true).
    collector = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        if (request.url === '/v1/traces') traces.push(JSON.parse(body) as Otlp);
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    worker = await startWorkerProcess(databaseUrl, {
      env: {
        JOBDECK_OTEL: 'true',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
        OTEL_SERVICE_NAME: 'example-worker',
        OTEL_BSP_SCHEDULE_DELAY: '200',
        // Finished jobs move to their weekly history partition a second after they end.
        JOBDECK_HISTORY_AFTER_SECONDS: '1',
      },
    });
    app = await buildApp({ connectionString: databaseUrl });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    jobdeck = createJobdeck({ connectionString: databaseUrl });
    owner = new pg.Pool({ connectionString: databaseUrl });
    for (const user of ['alice', 'bob', 'carol', 'dave']) await logIn(user);
  });

  afterAll(async () => {
    collector?.close();
    await app?.close();
    await jobdeck?.close();
    await owner?.end();
    if (worker) await stopProcess(worker);
  });

  it("runs the application's own task, enqueued in the same transaction as its upload", async () => {
    const response = await upload(
      'alice',
      'people.csv',
      'name,email\nAda,ada@example.com\nAlan,alan@example.com\n',
    );
    expect(response.status).toBe(201);
    const created = (await response.json()) as { id: string; import_job_id: string };
    const job = await waitFor(
      async () => {
        const row = await jobdeck.getJob(created.import_job_id);
        return row.status === 'succeeded' && row;
      },
      { what: 'the import job to succeed' },
    );
    expect(job.type).toBe('import_upload');
    expect(job.owner_id).toBe('alice');
    expect(job.org_id).toBe('acme');
    expect(job.result).toEqual({ rows: 2, columns: 2 });
    expect(job.progress).toBe(100);
  });

  it('pauses the import task type on every worker, keeps its jobs queued with the reason, and resumes them', async () => {
    const pause = await jobdeck.pause({ type: 'import_upload' }, { reason: 'maintenance' });
    expect(pause).toMatchObject({ scope: 'type', key: 'import_upload', reason: 'maintenance' });
    try {
      const response = await upload('bob', 'paused.csv', 'name\nGrace\n');
      expect(response.status).toBe(201);
      const { import_job_id: id } = (await response.json()) as { import_job_id: string };
      // The worker fetches it, sees the pause and holds it: queued, with the reason on the row.
      const held = await waitFor(
        async () => {
          const row = await jobdeck.getJob(id);
          return row.held_at !== null && row;
        },
        { what: 'the import job to be held by the pause' },
      );
      expect(held).toMatchObject({
        status: 'queued',
        held_reason: 'paused: task type "import_upload" (maintenance)',
        attempts: 0,
      });
      expect(await jobdeck.pauses()).toMatchObject([
        { scope: 'type', key: 'import_upload', held: 1 },
      ]);
      expect((await jobdeck.jobStats()).queue.paused).toBe(1);

      expect(await jobdeck.resume({ type: 'import_upload' })).toMatchObject({
        resumed: true,
        released: 1,
      });
      const done = await waitFor(
        async () => {
          const row = await jobdeck.getJob(id);
          return row.status === 'succeeded' && row;
        },
        { what: 'the resumed import job to succeed' },
      );
      expect(done.result).toEqual({ rows: 1, columns: 1 });
    } finally {
      await jobdeck.resume({ type: 'import_upload' });
    }
  });

  it('runs the job a database trigger enqueues when the import stores its rows', async () => {
    const response = await upload('alice', 'orders.csv', 'id,total,currency\n1,10,EUR\n');
    const created = (await response.json()) as { id: string };
    const done = await waitFor(
      async () => {
        const body = (await (await as('alice', `/uploads/${created.id}`)).json()) as {
          status: string;
          summary: unknown;
        };
        return body.summary !== null && body;
      },
      { what: 'the trigger-enqueued summary' },
    );
    expect(done.status).toBe('imported');
    expect(done.summary).toEqual({ columns: ['id', 'total', 'currency'], bytes: 27 });
    const { rows } = await owner.query(
      `select status, related_type, related_id from jobdeck.jobs where type = 'summarize_upload' and related_id = $1`,
      [created.id],
    );
    expect(rows).toEqual([{ status: 'succeeded', related_type: 'upload', related_id: created.id }]);
  });

  it('runs a task with resource limits in its own process, and stops one over its limit', async () => {
    // An upload of the tests above (a new one would change what the GraphQL test below sees).
    const { rows } = await owner.query<{ id: string }>(
      'select id from uploads order by id limit 1',
    );
    const uploadId = Number(rows[0]!.id);
    const fits = await jobdeck.enqueueJob('checksum_upload', { uploadId });
    const done = await waitFor(
      async () => {
        const row = await jobdeck.getJob(fits.id);
        return row.status !== 'queued' && row.status !== 'running' && row;
      },
      { what: 'the checksum job to finish' },
    );
    expect(done.status).toBe('succeeded');
    expect(done.result).toMatchObject({
      copies: 1,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect((done.result as { pid: number }).pid).not.toBe(worker.pid);
    expect(Number(done.peak_rss_bytes)).toBeGreaterThan(0);
    expect(Number(done.peak_rss_bytes)).toBeLessThan(128 * 1024 * 1024);

    const tooBig = await jobdeck.enqueueJob('checksum_upload', { uploadId, copies: 10_000_000 });
    const failed = await waitFor(
      async () => {
        const row = await jobdeck.getJob(tooBig.id);
        return row.status === 'failed' && row;
      },
      { what: 'the oversized checksum job to fail' },
    );
    expect(failed.attempts).toBe(1);
    expect(failed.errors.at(-1)?.message).toMatch(
      /^memory limit exceeded: (\d+ MB used, limit 128 MB|the JavaScript heap reached its ceiling, the limit of 128 MB) \(task type "checksum_upload"\)$/,
    );
  });

  it('runs a batch with one progress bar and reports its outcome in an on-complete job', async () => {
    const { rows } = await owner.query<{ id: string }>(
      'select id from uploads order by id limit 1',
    );
    const uploadId = Number(rows[0]!.id);
    const batch = await jobdeck.enqueueBatch(
      [
        { type: 'checksum_upload', payload: { uploadId } },
        { type: 'checksum_upload', payload: { uploadId, copies: 2 } },
        { type: 'checksum_upload', payload: { uploadId: 999_999_999 } }, // no such upload: fails
      ],
      { onComplete: 'report_batch', payload: { label: 'nightly checksums' } },
    );
    expect(batch).toMatchObject({ total: 3, finished: 0, percent: 0, status: 'running' });
    const done = await waitFor(
      async () => {
        const now = await jobdeck.getBatch(batch.id);
        return now.onCompleteJobId !== null && now;
      },
      { what: 'the batch to finish' },
    );
    expect(done).toMatchObject({ succeeded: 2, failed: 1, percent: 100, status: 'completed' });
    const report = await waitFor(
      async () => {
        const job = await jobdeck.getJob(done.onCompleteJobId!);
        return job.status === 'succeeded' && job;
      },
      { what: 'the on-complete job' },
    );
    expect(report.result).toEqual({
      label: 'nightly checksums',
      id: batch.id,
      total: 3,
      succeeded: 2,
      failed: 1,
      cancelled: 0,
    });
  });

  it('enqueues from a job template stored in the database, its defaults merged under the payload', async () => {
    const { rows } = await owner.query<{ id: string }>(
      'select id from uploads order by id limit 1',
    );
    const template = await jobdeck.defineTemplate('double-checksum', {
      type: 'checksum_upload',
      payload: { copies: 2 },
      priority: 'high',
      description: 'Checksum an upload twice over',
    });
    expect(template).toMatchObject({ name: 'double-checksum', priority: -10 });
    const job = await jobdeck.enqueueFromTemplate('double-checksum', {
      uploadId: Number(rows[0]!.id),
    });
    expect(job).toMatchObject({ type: 'checksum_upload', priority: -10 });
    expect(job.metadata).toEqual({ template: 'double-checksum' });
    const done = await waitFor(
      async () => {
        const row = await jobdeck.getJob(job.id);
        return row.status !== 'queued' && row.status !== 'running' && row;
      },
      { what: 'the templated checksum job to finish' },
    );
    expect(done.status).toBe('succeeded');
    expect(done.result).toMatchObject({ copies: 2 });
    await expect(jobdeck.enqueueFromTemplate('no-such-template', {})).rejects.toThrow(
      'job template "no-such-template" not found',
    );
    expect(await jobdeck.deleteTemplate('double-checksum')).toBe(true);
  });

  it('runs one job of a limited queue at a time across the workers, holding the others', async () => {
    const { rows } = await owner.query<{ id: string }>(
      'select id from uploads order by id limit 1',
    );
    const uploadId = Number(rows[0]!.id);
    expect(await jobdeck.setQueueConcurrency('summaries', 1)).toBe(1);
    try {
      const jobs = await jobdeck.enqueueJobs(
        [1, 2, 3].map(() => ({
          type: 'summarize_upload',
          payload: { uploadId },
          queue: 'summaries',
        })),
      );
      const done = await waitFor(
        async () => {
          const all = await Promise.all(jobs.map((job) => jobdeck.getJob(job.id)));
          return all.every((row) => row.status === 'succeeded') && all;
        },
        { what: 'the three summaries to finish' },
      );
      const spans = done
        .map((row) => [row.started_at!.getTime(), row.finished_at!.getTime()] as const)
        .sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < spans.length; i += 1)
        expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    } finally {
      expect(await jobdeck.setQueueConcurrency('summaries', null)).toBeNull();
    }
  });

  it('resumes a durable review after its completed steps and wakes it with a signal', async () => {
    const { rows } = await owner.query<{ id: string }>(
      'select id from uploads order by id limit 1',
    );
    const job = await jobdeck.enqueueJob('review_upload', { uploadId: Number(rows[0]!.id) });
    // Failed once in step "count", retried without reading again, then parked on its wait
    const parked = await waitFor(
      async () => {
        const row = await jobdeck.getJob(job.id);
        return row.status === 'queued' && row.current_step === 'wait-approve-1' && row;
      },
      { what: 'the review to wait for its approval' },
    );
    // One attempt spent by the failure; the parked one is not counted
    expect(parked.attempts).toBe(1);
    expect(parked.errors).toHaveLength(1);
    expect(await jobdeck.signal(job.id, 'approve', { by: 'alice' })).toBe(job.id);
    const done = await waitFor(
      async () => {
        const row = await jobdeck.getJob(job.id);
        return row.status === 'succeeded' && row;
      },
      { what: 'the review to finish' },
    );
    expect(done.result).toMatchObject({ readOnAttempt: 1, approvedBy: 'alice' });
    expect(done.attempts).toBe(2); // parking spent no attempt
    const steps = await jobdeck.getJobSteps(job.id);
    expect(steps.map((s) => [s.name, s.attempt])).toEqual([
      ['read', 1],
      ['count', 2],
      ['wait-approve-1', 2],
    ]);

    // The worker exported a span per attempt, each with its steps, over OTLP (JOBDECK_OTEL=true).
    const spans = await waitFor(
      async () => {
        const all = traces.flatMap((t) =>
          t.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)),
        );
        const runs = all.filter(
          (s) =>
            s.name === 'jobdeck run review_upload' &&
            s.attributes.some((a) => a.key === 'jobdeck.job.id' && a.value.stringValue === job.id),
        );
        return runs.length === 3 && { all, runs };
      },
      { what: "the review's three attempt spans", timeoutMs: 20_000 },
    );
    const outcome = (span: OtlpSpan) =>
      span.attributes.find((a) => a.key === 'jobdeck.job.outcome')?.value.stringValue;
    expect(spans.runs.map(outcome).sort()).toEqual(['error', 'parked', 'succeeded']);
    const parkedRun = spans.runs.find((s) => outcome(s) === 'parked')!;
    expect(
      spans.all.filter((s) => s.parentSpanId === parkedRun.spanId).map((s) => s.name),
    ).toContain('jobdeck step count');
  });

  it('runs a graph of jobs in dependency order: the summary waits for the checksum', async () => {
    const { rows } = await owner.query<{ id: string }>(
      'select id from uploads order by id limit 1',
    );
    const uploadId = Number(rows[0]!.id);
    const graph = await jobdeck.enqueueGraph({
      jobs: {
        checksum: { type: 'checksum_upload', payload: { uploadId } },
        summary: { type: 'summarize_upload', payload: { uploadId }, dependsOn: ['checksum'] },
      },
    });
    // The dependant waits, with no Graphile Worker job, until its dependency has succeeded.
    expect(graph['summary']!.status).toBe('waiting');
    expect(graph['summary']!.depends_on).toEqual([graph['checksum']!.id]);
    const [checksum, summary] = await waitFor(
      async () => {
        const both = await Promise.all([
          jobdeck.getJob(graph['checksum']!.id),
          jobdeck.getJob(graph['summary']!.id),
        ]);
        return both.every((job) => job.status === 'succeeded') && both;
      },
      { what: 'both jobs of the graph to succeed' },
    );
    expect(summary.started_at!.getTime()).toBeGreaterThanOrEqual(checksum.finished_at!.getTime());
  });

  it('holds a job enqueued before a pause, though it carries the start data it was enqueued with', async () => {
    const { rows } = await owner.query<{ id: string }>(
      'select id from uploads order by id limit 1',
    );
    const job = await jobdeck.enqueueJob(
      'summarize_upload',
      { uploadId: Number(rows[0]!.id) },
      { ownerId: 'alice', orgId: 'acme', runAt: new Date(Date.now() + 1500) },
    );
    // No rule covered it at enqueue: its Graphile job carries what its start needs, so the
    // worker would start it without reading its row (docs/performance.md).
    const { rows: graphile } = await owner.query<{ payload: Record<string, unknown> }>(
      'select payload from graphile_worker._private_jobs where id = $1',
      [job.gw_job_id],
    );
    expect(Object.keys(graphile[0]!.payload).sort()).toEqual(['jobdeckId', 'start']);
    // The pause comes after: the worker knows the rules changed, reads the row and holds it.
    await jobdeck.pause({ type: 'summarize_upload' }, { reason: 'after the enqueue' });
    try {
      const held = await waitFor(
        async () => {
          const row = await jobdeck.getJob(job.id);
          return row.held_at !== null && row;
        },
        { what: 'the summary to be held by the pause once its time came' },
      );
      expect(held).toMatchObject({
        status: 'queued',
        attempts: 0,
        held_reason: 'paused: task type "summarize_upload" (after the enqueue)',
      });
    } finally {
      await jobdeck.resume({ type: 'summarize_upload' });
    }
    const done = await waitFor(
      async () => {
        const row = await jobdeck.getJob(job.id);
        return row.status === 'succeeded' && row;
      },
      { what: 'the resumed summary to succeed' },
    );
    expect(done).toMatchObject({ attempts: 1, owner_id: 'alice', org_id: 'acme' });
  });

  it('leaves no job behind when the upload is refused inside the transaction', async () => {
    const count = async () =>
      Number(
        (await owner.query(`select count(*) from jobdeck.jobs where type = 'import_upload'`))
          .rows[0].count,
      );
    expect((await upload('bob', 'twice.csv', 'a\n1\n')).status).toBe(201);
    const before = await count();
    const again = await upload('bob', 'twice.csv', 'a\n2\n');
    expect(again.status).toBe(409);
    expect(await again.json()).toEqual({ error: 'you already uploaded twice.csv' });
    expect(await count()).toBe(before);
  });

  it('records a bad file as a failed job with the reason, without retrying it', async () => {
    const created = (await (await upload('bob', 'broken.csv', 'a,b\n1\n')).json()) as {
      import_job_id: string;
    };
    const job = await waitFor(
      async () => {
        const row = await jobdeck.getJob(created.import_job_id);
        return row.status === 'failed' && row;
      },
      { what: 'the import job to fail' },
    );
    expect(job.attempts).toBe(1);
    expect(job.errors.at(-1)?.message).toBe('row 2 has not 2 columns');
  });

  it('moves a finished job into its weekly history partition, where its owner still reads it', async () => {
    const created = (await (await upload('alice', 'history.csv', 'name\nAda\n')).json()) as {
      import_job_id: string;
    };
    // The worker's history service moves it JOBDECK_HISTORY_AFTER_SECONDS (1) after it ends.
    const partition = await waitFor(
      async () => {
        const { rows } = await owner.query<{ partition: string }>(
          `select tableoid::regclass::text as partition from jobdeck.jobs
            where id = $1 and purge_on <> 'infinity'`,
          [created.import_job_id],
        );
        return rows[0]?.partition;
      },
      { what: 'the job to move to its history partition' },
    );
    expect(partition).toMatch(/^jobdeck_private\.jobs_p\d{8}$/);
    const read = (user: string) =>
      graphql(
        user,
        `
          query ($id: UUID!) {
            job(id: $id) {
              status
              result
              attemptHistory {
                nodes {
                  attempt
                  outcome
                }
              }
            }
          }
        `,
        { id: created.import_job_id },
      );
    const mine = await read('alice');
    expect(mine.errors).toBeUndefined();
    expect(mine.data!['job']).toEqual({
      status: 'succeeded',
      result: { rows: 1, columns: 1 },
      attemptHistory: { nodes: [{ attempt: 1, outcome: 'succeeded' }] },
    });
    expect((await jobdeck.getJob(created.import_job_id)).status).toBe('succeeded');
    // row-level security holds in the history partition too: another organisation sees nothing
    expect((await read('dave')).data!['job']).toBeNull();
  });

  it("serves jobdeck's GraphQL under /jobs-api with the application's sessions as identities", async () => {
    const query = `{ jobs(filter: { type: { equalTo: "import_upload" } }) { nodes { ownerId } } }`;
    const owners = async (user: string) => {
      const result = await graphql(user, query);
      expect(result.errors).toBeUndefined();
      const nodes = (result.data!['jobs'] as { nodes: { ownerId: string }[] }).nodes;
      return [...new Set(nodes.map((n) => n.ownerId))].sort();
    };
    expect(await owners('alice')).toEqual(['alice']);
    expect(await owners('bob')).toEqual(['bob']);
    // carol is an admin of acme: she sees the organisation's jobs, dave (globex) sees none of them
    expect(await owners('carol')).toEqual(['alice', 'bob']);
    expect(await owners('dave')).toEqual([]);
    // without the application's session there is no identity, so no rows
    const anonymous = await fetch(`${base}/jobs-api/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query }),
    });
    const body = (await anonymous.json()) as { data?: { jobs: { nodes: unknown[] } | null } };
    expect(body.data?.jobs?.nodes ?? []).toEqual([]);
    expect(anonymous.headers.get('x-jobdeck-caller')).toMatch(/^anonymous: sign in/);
  });

  it("logs jobdeck's API in as jobdeck_api, never as the application's owner role", async () => {
    await graphql('alice', '{ jobs { totalCount } }');
    const { rows } = await owner.query<{ usename: string }>(
      `select distinct usename from pg_stat_activity
        where datname = current_database() and application_name = 'jobdeck-api'`,
    );
    expect(rows.map((row) => row.usename)).toEqual(['jobdeck_api']);
    // and a webhook to the machine itself is refused at enqueue (no SSRF through the app's jobs)
    await expect(
      jobdeck.enqueueJob('purge_uploads', {}, { webhookUrl: 'http://127.0.0.1:9/hook' }),
    ).rejects.toThrow(/internal|loopback|JOBDECK_WEBHOOK_ALLOW_INTERNAL/i);
  });

  it("serves jobdeck's dashboard and REST routes under the prefix, next to the app's own routes", async () => {
    const page = await as('alice', '/jobs-api/');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    const active = await as('alice', '/jobs-api/api/v2/jobs/active');
    expect(active.status).toBe(200);
    expect((await as('alice', '/uploads/999999')).status).toBe(404);
  });

  it('keeps a task to its rate limit per owner, across the worker, without spending attempts', async () => {
    const jobs = await jobdeck.enqueueJobs([
      ...Array.from({ length: 8 }, (_, i) => ({
        type: 'notify_partner',
        payload: { uploadId: i + 1, simulate429: i === 0 },
        ownerId: 'alice',
      })),
      ...Array.from({ length: 4 }, (_, i) => ({
        type: 'notify_partner',
        payload: { uploadId: i + 1 },
        ownerId: 'bob',
      })),
    ]);
    const ids = jobs.map((job) => job.id);
    await waitFor(
      async () =>
        (
          await owner.query<{ n: number }>(
            `select count(*)::int as n from jobdeck.jobs where id = any($1) and status = 'succeeded'`,
            [ids],
          )
        ).rows[0]!.n === ids.length,
      { timeoutMs: 30_000, what: 'the rate-limited notifications' },
    );
    const { rows } = await owner.query<{ attempts: number; deferred: number; n: number }>(
      `select attempts, rate_deferrals as deferred, count(*)::int as n from jobdeck.jobs
        where id = any($1) group by 1, 2 order by 2`,
      [ids],
    );
    // every job on its first attempt; the one the partner turned away once was put back, not failed
    expect(rows).toEqual([
      { attempts: 1, deferred: 0, n: 11 },
      { attempts: 1, deferred: 1, n: 1 },
    ]);
    // no owner got more than 4 starts in any one-second window
    const { rows: peaks } = await owner.query<{ owner_id: string; peak: number }>(
      `select owner_id, max(n)::int as peak from (
         select owner_id, count(*) over (partition by owner_id order by started_at
                  range between current row and interval '999999 microseconds' following) as n
           from jobdeck.jobs where id = any($1)) w group by 1 order by 1`,
      [ids],
    );
    expect(peaks.map((p) => p.owner_id)).toEqual(['alice', 'bob']);
    for (const p of peaks) expect(p.peak).toBeLessThanOrEqual(4);
  });

  it('runs the crontab schedule of the application', { timeout: 90_000 }, async () => {
    // Cron has minute resolution: this waits for the next minute boundary (at most ~60 s).
    const run = await waitFor(
      async () =>
        (
          await owner.query(
            `select status, result from jobdeck.jobs where type = 'purge_uploads' and status = 'succeeded' limit 1`,
          )
        ).rows[0],
      { timeoutMs: 80_000, what: 'a cron run of purge_uploads' },
    );
    expect(run).toEqual({ status: 'succeeded', result: { purged: 0 } });
  });
});
