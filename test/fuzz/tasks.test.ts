import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import type { JobAttemptError } from '../../src/db/types.ts';
import {
  InvalidArgumentError,
  InvalidPayloadError,
  PayloadTooLargeError,
  UnknownJobTypeError,
} from '../../src/errors.ts';
import { loadTasks, type TaskRegistry } from '../../src/jobs/registry.ts';
import { ROOT } from '../helpers/cli.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import {
  anyField,
  anyJson,
  edgeNumber,
  fingerprint,
  FUZZ_TIMEOUT_MS,
  fuzzParameters,
  nastyString,
  percentEncode,
} from '../helpers/fuzz.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

/**
 * Random payloads and options for the repository's task types (tasks/*.ts) through the TypeScript
 * client. A payload the task's schema refuses is refused at enqueue with a jobdeck error naming
 * the problem, writing nothing; one it accepts runs, and either succeeds or fails with a
 * permanent error (PermanentJobError) saying what was wrong: never an unexpected exception, never
 * a stuck job, never a worker that stops taking jobs.
 */

let t: TestDatabase;
let jobdeck: Jobdeck;
let tasks: TaskRegistry;
let dataDir: string;
/**
 * The connection enqueues run on (autocommit, no BEGIN): through the pool, every refused enqueue
 * would cost a new connection, since pg-pool's `pool.query` ends a connection whose query failed
 * (see the report), which makes 2,000 cases slow on a small machine.
 */
let tx: pg.PoolClient;

beforeAll(async () => {
  // export_report writes its files under the data directory, deliver_webhook keeps its secret
  // there: a folder of this file's own, not the repository's .jobdeck/
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'jobdeck-fuzz-'));
  process.env['JOBDECK_DATA_DIR'] = dataDir;
  process.env['JOBDECK_WEBHOOK_SECRET'] = 'fuzz-webhook-secret-of-at-least-32-chars';
  t = await createTestDatabase();
  tasks = await loadTasks(path.join(ROOT, 'tasks'));
  await registerTasks(t, tasks);
  jobdeck = createJobdeck({ pool: t.pool });
  tx = await t.pool.connect();
});

afterEach(async () => {
  expect(await stopWorkers()).toBe(0);
});

afterAll(async () => {
  tx?.release();
  await jobdeck?.close();
  await t?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

/** The errors enqueue throws for input it refuses (jobdeck's own classes). */
const REFUSALS = [
  UnknownJobTypeError,
  InvalidPayloadError,
  PayloadTooLargeError,
  InvalidArgumentError,
];

/** A refusal a caller can act on: one of jobdeck's classes, with a message. */
function expectClearRefusal(error: unknown, what: string): string {
  expect(
    REFUSALS.some((kind) => error instanceof kind),
    `${what}: ${String(error)}`,
  ).toBe(true);
  expect((error as Error).message.length, what).toBeGreaterThan(0);
  return (error as Error).name;
}

// --- payloads --------------------------------------------------------------------------------

const bad = (good: fc.Arbitrary<unknown>, weight = 3) =>
  fc.oneof({ arbitrary: good, weight }, { arbitrary: anyField, weight: 1 });

/** 0 or a value the schema refuses: the tasks' own default pauses 400 ms between steps. */
const stepDelay = fc.oneof(
  { arbitrary: fc.constant(0), weight: 4 },
  { arbitrary: fc.constantFrom(-1, 1.5, '0', 60_001, 1e9, null, true), weight: 1 },
);
const dateText = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
  fc.constantFrom('2024-02-30', '2024-13-01', '0000-01-01', '+275760-09-13', 'yesterday', ''),
  nastyString,
);
const csv = fc
  .array(
    fc.array(
      fc.oneof(fc.integer().map(String), fc.string({ maxLength: 6 }), fc.constantFrom('', ' ')),
      {
        maxLength: 4,
      },
    ),
    { maxLength: 8 },
  )
  .chain((rows) =>
    fc
      .constantFrom('\n', '\r\n', '\r')
      .map((eol) => rows.map((cells) => cells.join(',')).join(eol)),
  );

/** Adds `stepDelayMs: 0` to an object payload that does not set it. */
const quick = (payload: unknown) =>
  typeof payload === 'object' &&
  payload !== null &&
  !Array.isArray(payload) &&
  !('stepDelayMs' in payload)
    ? { ...payload, stepDelayMs: 0 }
    : payload;

const PAYLOADS: Record<string, fc.Arbitrary<unknown>> = {
  export_report: bad(
    fc.record(
      {
        reportType: bad(fc.oneof(fc.constantFrom('quotes', 'orders', 'invoices'), nastyString)),
        format: bad(fc.constantFrom('csv', 'json')),
        filters: bad(
          fc.record(
            { dateFrom: bad(dateText), dateTo: bad(dateText), status: bad(nastyString) },
            { requiredKeys: [] },
          ),
        ),
        stepDelayMs: stepDelay,
        x: anyField,
      },
      { requiredKeys: ['reportType', 'format'] },
    ),
    6,
  ),
  import_file: bad(
    fc.record(
      {
        filename: bad(nastyString),
        content: bad(fc.oneof(csv, nastyString)),
        // mostly small: a sample of 100,000 rows is valid, and slow to make on a shared machine
        rows: bad(
          fc.oneof(
            { arbitrary: fc.integer({ min: 1, max: 200 }), weight: 8 },
            { arbitrary: edgeNumber, weight: 1 },
          ),
        ),
        stepDelayMs: stepDelay,
      },
      { requiredKeys: ['filename'] },
    ),
    6,
  ),
  deliver_webhook: bad(
    fc.record(
      {
        jobId: bad(fc.uuid()),
        // never a host that exists: the job it names does not either, so no request is made
        url: bad(
          fc.oneof(
            fc.constant('http://127.0.0.1:1/hook'),
            nastyString.map((s) => `http://127.0.0.1:1/${percentEncode(s.slice(0, 20))}`),
            fc.constantFrom('ftp://127.0.0.1/x', 'http://', 'not a url'),
          ),
        ),
        event: bad(fc.constantFrom('job.succeeded', 'job.failed', 'job.cancelled')),
      },
      { requiredKeys: ['jobId', 'url', 'event'] },
    ),
    6,
  ),
  prune_jobs: fc.oneof(fc.constant({}), anyJson),
};

const payloadCase = fc.oneof(
  ...Object.entries(PAYLOADS).map(([type, payload]) =>
    payload.map((p) => ({ type, payload: quick(p) })),
  ),
  fc.record({ type: nastyString, payload: anyJson }),
);

/** Options: a usable value mostly (so cases get to the next check), anything now and then. */
const option = (good: fc.Arbitrary<unknown>, worse: fc.Arbitrary<unknown>) =>
  fc.oneof({ arbitrary: good, weight: 4 }, { arbitrary: worse, weight: 1 });
const shortText = fc.string({ minLength: 1, maxLength: 20 });
const optionsArb = fc.record(
  {
    priority: option(
      fc.oneof(
        fc.constantFrom('urgent', 'high', 'normal', 'low'),
        fc.integer({ min: -20, max: 10 }),
      ),
      fc.oneof(
        fc.constantFrom('URGENT', 'highest', '', '1'),
        fc.integer({ min: -40000, max: 40000 }),
        edgeNumber,
        anyField,
      ),
    ),
    runAt: option(
      fc.date({ min: new Date(2000, 0, 1), max: new Date(2100, 0, 1) }),
      fc.oneof(
        fc.date({ noInvalidDate: true }),
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        fc.constantFrom('infinity', 'tomorrow', '', '2024-02-30'),
        anyField,
      ),
    ),
    maxAttempts: option(
      fc.integer({ min: 1, max: 25 }),
      fc.oneof(fc.integer({ min: -2, max: 40000 }), edgeNumber, anyField),
    ),
    key: option(
      shortText,
      fc.oneof(nastyString, fc.string({ minLength: 500, maxLength: 600 }), anyField),
    ),
    keyMode: option(fc.constantFrom('keep', 'replace'), anyField),
    queue: option(shortText, fc.oneof(nastyString, anyField)),
    ownerId: option(shortText, fc.oneof(nastyString, anyField)),
    orgId: option(shortText, fc.oneof(nastyString, anyField)),
    related: option(
      fc.record({ type: shortText, id: shortText }, { noNullPrototype: true }),
      fc.oneof(
        fc.record({ type: nastyString, id: nastyString }, { noNullPrototype: true }),
        anyField,
      ),
    ),
    metadata: option(
      fc.dictionary(shortText, anyJson, { maxKeys: 3, noNullPrototype: true }),
      fc.oneof(
        fc.dictionary(nastyString, anyJson, { maxKeys: 3, noNullPrototype: true }),
        anyField,
      ),
    ),
    // accepted jobs are cancelled before they could run: nothing is ever delivered
    webhookUrl: option(
      fc.constant('https://hooks.example.com/hook'),
      // internal targets are refused at enqueue, like malformed ones
      fc.oneof(
        fc.constantFrom('ftp://x', 'http://127.0.0.1:1/hook', 'http://[::1]/', 'http://localhost/'),
        anyField,
      ),
    ),
  },
  // (objects without a prototype make String() throw inside enqueue's own messages: a JSON-minded
  // caller never has one, see the report)
  { requiredKeys: [], noNullPrototype: true },
);

// --- properties ------------------------------------------------------------------------------

describe('task payloads and options (property-based)', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('refuses bad enqueue options and payloads at once with a jobdeck error, writing nothing', async () => {
    const seen = new Set<string>();
    const accepted: string[] = [];
    await fc.assert(
      fc.asyncProperty(payloadCase, optionsArb, async ({ type, payload }, options) => {
        const before = await fingerprint(t.pool);
        const what = `${type} ${JSON.stringify(payload)?.slice(0, 300)} ${JSON.stringify(options)?.slice(0, 300)}`;
        try {
          // the options as a caller without types might pass them
          const job = await jobdeck.enqueueJob(type, payload, { ...(options as object), tx });
          accepted.push(job.id);
          seen.add('accepted');
        } catch (error) {
          seen.add(expectClearRefusal(error, what));
          expect(await fingerprint(t.pool), `${what}: the refused enqueue wrote`).toEqual(before);
        }
      }),
      fuzzParameters(),
    );
    expect([...seen]).toEqual(
      expect.arrayContaining([
        'accepted',
        'UnknownJobTypeError',
        'InvalidPayloadError',
        'InvalidArgumentError',
      ]),
    );
    // nothing of these may run later (some are due now); cancelled jobs leave the queue
    await t.pool.query(
      `select jobdeck.cancel_job(id) from jobdeck.jobs
        where id = any($1::uuid[]) and status in ('queued', 'retrying')`,
      [accepted],
    );
  });

  it('runs the payloads a schema accepts to success or a permanent, readable failure', async () => {
    const seen = new Set<string>();
    const accepted = new Map<string, string>();
    let n = 0;
    // enqueued first and run after, so the worker does not slow every enqueue down
    await fc.assert(
      fc.asyncProperty(payloadCase, async ({ type, payload }) => {
        const marker = String(++n);
        const what = `${type} ${JSON.stringify(payload)?.slice(0, 400)}`;
        try {
          // one attempt: an unexpected exception then shows as a failure that is not permanent
          const job = await jobdeck.enqueueJob(type, payload, {
            maxAttempts: 1,
            metadata: { fuzzCase: marker },
            tx,
          });
          accepted.set(job.id, what);
        } catch (error) {
          seen.add(expectClearRefusal(error, what));
          const { rows } = await t.pool.query(
            `select count(*)::int as n from jobdeck.jobs where metadata ->> 'fuzzCase' = $1`,
            [marker],
          );
          expect(rows[0].n, `${what}: the refused enqueue wrote`).toBe(0);
        }
      }),
      fuzzParameters(),
    );
    const worker = await runTestWorker(t, tasks, { config: { concurrency: 8 } });
    try {
      const ids = [...accepted.keys()];
      await waitFor(
        async () => {
          const { rows } = await t.pool.query<{ n: number }>(
            `select count(*)::int as n from jobdeck.jobs
              where id = any($1::uuid[]) and status not in ('succeeded', 'failed')`,
            [ids],
          );
          return rows[0]!.n === 0;
        },
        { timeoutMs: 45_000, intervalMs: 100, what: `${ids.length} accepted jobs to finish` },
      );
      const { rows } = await t.pool.query<{
        id: string;
        status: string;
        errors: JobAttemptError[];
      }>(`select id, status, errors from jobdeck.jobs where id = any($1::uuid[])`, [ids]);
      for (const job of rows) {
        const what = `${accepted.get(job.id)} → ${job.status} ${JSON.stringify(job.errors).slice(0, 600)}`;
        seen.add(job.status);
        if (job.status !== 'failed') continue;
        const last = job.errors[job.errors.length - 1]!;
        expect(last.permanent, what).toBe(true);
        expect(last.name, what).toBe('PermanentJobError');
        expect(last.message, what).toMatch(/\w{3,}/);
        expect(last.message, what).not.toMatch(/Cannot read prop|is not a function|is not defined/);
      }
      expect([...seen]).toEqual(
        expect.arrayContaining(['succeeded', 'failed', 'InvalidPayloadError']),
      );
      // the worker still takes jobs
      const sentinel = await jobdeck.enqueueJob('import_file', {
        filename: 'after.csv',
        rows: 3,
        stepDelayMs: 0,
      });
      await waitForStatus(jobdeck, sentinel.id, 'succeeded');
    } finally {
      await worker.stop();
    }
  });
});
