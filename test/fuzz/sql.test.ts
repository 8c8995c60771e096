import path from 'node:path';
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { loadTasks } from '../../src/jobs/registry.ts';
import { ROOT } from '../helpers/cli.ts';
import { createTestDatabase, openApiPool, type TestDatabase } from '../helpers/db.ts';
import {
  anyField,
  anyJson,
  edgeNumber,
  fingerprint,
  FUZZ_TIMEOUT_MS,
  fuzzParameters,
  nastyString,
  withoutControlChars,
} from '../helpers/fuzz.ts';
import { registerTasks } from '../helpers/worker.ts';

/**
 * Random arguments to jobdeck's SQL API, bound as node-pg parameters: `enqueue`, `enqueue_many`,
 * `enqueue_job`, `cancel_job`, `retry_job`, `job_stats`, `priority`, called by a trusted
 * connection and as the API's request roles. Each call succeeds or raises an error a caller can
 * act on (SQLSTATE class 22 or 23, JD0xx, 42501 for a refused caller), never an internal error,
 * and a failed call writes nothing.
 */

let t: TestDatabase;
let jobdeck: Jobdeck;
/** Logged in as the API's role, jobdeck_api: only its sessions may take a request's identity. */
let api: ReturnType<typeof openApiPool>;
const ids: string[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  api = openApiPool(t.url);
  await registerTasks(t, await loadTasks(path.join(ROOT, 'tasks')));
  jobdeck = createJobdeck({ pool: t.pool });
  const later = new Date(Date.now() + 3_600_000);
  for (const owner of ['alice', 'alice', 'bob']) {
    const job = await jobdeck.enqueueJob(
      'export_report',
      { reportType: 'quotes', format: 'csv' },
      { ownerId: owner, orgId: 'acme', runAt: later, key: `k-${owner}-${ids.length}` },
    );
    ids.push(job.id);
  }
  await jobdeck.cancelJob(ids[1]!);
});

afterAll(async () => {
  await jobdeck?.close();
  await api?.close();
  await t?.drop();
});

// --- arguments -------------------------------------------------------------------------------

/**
 * A parameter: values that pass (so calls get past it to the next check, and some succeed), and
 * values that may not (anything the driver binds).
 */
interface Param {
  good: fc.Arbitrary<unknown>;
  bad: fc.Arbitrary<unknown>;
}

/** Anything: the parameter's type gone wrong, injections, null, JSON, arrays. */
const bad = (typed: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.oneof(
    { arbitrary: typed, weight: 3 },
    { arbitrary: fc.constant(null), weight: 1 },
    { arbitrary: anyField, weight: 3 },
    // node-pg binds arrays as array literals. (Not buffers: those go in binary format, which the
    // server's receive functions check as a protocol matter, 08P01, before jobdeck sees them.)
    { arbitrary: fc.array(nastyString, { maxLength: 3 }), weight: 1 },
  );

/** Printable strings (what the API lets through), injections included. */
const printable = nastyString.map((s) => withoutControlChars(s).slice(0, 100));

const reportPayload = fc.record(
  {
    reportType: fc.oneof(fc.constantFrom('quotes', 'orders'), printable),
    format: fc.constantFrom('csv', 'json'),
    filters: fc.record({ dateFrom: printable, status: printable }, { requiredKeys: [] }),
  },
  { requiredKeys: ['reportType', 'format'] },
);

const JSON_TEXTS = [
  '{"a":"\\u0000"}',
  '{"a":"\\ud800"}',
  '{"a":1e400}',
  '{"a":-1e-400}',
  '{"a":1,"a":2}',
  '{',
  '',
  'NaN',
  `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
  `{"x":"${'y'.repeat(2 * 1024 * 1024)}"}`,
];
const badJson = fc.oneof(
  { arbitrary: anyJson.map((v) => JSON.stringify(v)), weight: 3 },
  {
    arbitrary: fc
      .record(
        {
          reportType: fc.oneof(fc.constant('quotes'), anyField),
          format: fc.oneof(fc.constantFrom('csv', 'pdf'), anyField),
          filename: anyField,
          rows: edgeNumber,
        },
        { requiredKeys: [] },
      )
      .map((v) => JSON.stringify(v)),
    weight: 3,
  },
  { arbitrary: fc.constantFrom(...JSON_TEXTS), weight: 1 },
);

const TYPES = ['export_report', 'import_file', 'prune_jobs', 'deliver_webhook', 'nope', ''];
const type: Param = {
  good: fc.constantFrom('export_report', 'prune_jobs'),
  bad: bad(fc.constantFrom(...TYPES)),
};
const payload: Param = {
  good: reportPayload.map((v) => JSON.stringify(v)),
  bad: bad(badJson),
};
const badInt = bad(
  fc.oneof(
    edgeNumber,
    fc.integer({ min: -40, max: 40 }),
    fc.constantFrom('1', ' 2 ', '1.0', '1e3'),
  ),
);
const priority: Param = { good: fc.integer({ min: -20, max: 10 }), bad: badInt };
const maxAttempts: Param = { good: fc.option(fc.integer({ min: 1, max: 25 })), bad: badInt };
const runAt: Param = {
  good: fc.option(fc.date({ min: new Date(2000, 0, 1), max: new Date(2100, 0, 1) })),
  bad: bad(
    fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.constantFrom('infinity', '-infinity', 'epoch', '0000-01-01', '294277-01-01', 'allballs'),
    ),
  ),
};
const text: Param = {
  good: fc.option(printable.filter((s) => s.length > 0)),
  bad: bad(nastyString),
};
const metadata: Param = {
  good: fc
    .dictionary(printable, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 })
    .map((m) => JSON.stringify(m)),
  bad: bad(badJson),
};
const keyMode: Param = { good: fc.constantFrom('keep', 'replace'), bad: bad(nastyString) };
const webhookUrl: Param = {
  good: fc.option(fc.constant('http://127.0.0.1:1/hook')),
  bad: bad(
    fc.oneof(
      fc.constantFrom('https://example.invalid/x', 'ftp://x', 'http://', 'http://a b'),
      nastyString.map((s) => `http://127.0.0.1:1/${s}`),
    ),
  ),
};
const jobId = (): Param => ({
  good: fc.constantFrom(...ids),
  bad: bad(
    fc.oneof(
      fc.uuid(),
      fc.constantFrom(...ids).map((id) => `{${id.toUpperCase()}}`),
      fc.constantFrom(...ids).map((id) => id.replaceAll('-', '')),
    ),
  ),
});
const since: Param = {
  good: fc.date({ min: new Date(2000, 0, 1), max: new Date() }),
  bad: runAt.bad,
};

/** One call: the SQL text (parameters only, never spliced) and its values. */
interface Call {
  name: string;
  sql: string;
  params: unknown[];
}

/** A call with good values, some (often none, rarely more than three) swapped for bad ones. */
const call = (name: string, sql: string, params: Param[]): fc.Arbitrary<Call> =>
  fc
    .tuple(
      fc.tuple(...params.map((p) => p.good)),
      fc.tuple(...params.map((p) => p.bad)),
      fc.array(fc.nat({ max: params.length - 1 }), { maxLength: 3 }),
    )
    .map(([good, worse, picks]) => ({
      name,
      sql,
      params: good.map((value, i) => (picks.includes(i) ? worse[i] : value)),
    }));

const goodSpec = fc
  .tuple(
    reportPayload,
    fc.integer({ min: -20, max: 10 }),
    fc.constantFrom('keep', 'replace'),
    fc.option(printable),
  )
  .map(([payload, priority, keyMode, key]) => ({
    type: 'export_report',
    payload,
    priority,
    keyMode,
    ...(key ? { key } : {}),
  }));
const badSpec = fc
  .record(
    {
      type: bad(fc.constantFrom(...TYPES)),
      payload: fc.oneof(anyJson, anyField),
      priority: fc.oneof(fc.integer({ min: -5, max: 5 }), anyField),
      maxAttempts: fc.oneof(fc.integer({ min: 0, max: 30 }), anyField),
      runAt: fc.oneof(
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        anyField,
      ),
      key: anyField,
      keyMode: fc.oneof(fc.constantFrom('keep', 'replace'), anyField),
      queue: anyField,
      ownerId: anyField,
      metadata: anyField,
      webhookUrl: fc.oneof(fc.constant('http://127.0.0.1:1/hook'), anyField),
    },
    { requiredKeys: ['type'] },
  )
  .map((spec) => JSON.parse(JSON.stringify(spec)) as unknown);
const specs: Param = {
  good: fc.array(goodSpec, { minLength: 1, maxLength: 3 }).map((list) => JSON.stringify(list)),
  bad: bad(
    fc
      .array(fc.oneof({ arbitrary: goodSpec, weight: 2 }, { arbitrary: badSpec, weight: 1 }), {
        maxLength: 4,
      })
      .map((list) => JSON.stringify(list)),
  ),
};

const ENQUEUE = `select * from jobdeck.enqueue(type => $1, payload => $2, priority => $3, run_at => $4,
  max_attempts => $5, key => $6, queue => $7, owner_id => $8, org_id => $9, related_type => $10,
  related_id => $11, metadata => $12, key_mode => $13, webhook_url => $14)`;
const ENQUEUE_JOB = 'select * from jobdeck.enqueue_job($1, $2, $3, $4, $5, $6)';

/** The API's own enqueue, which every caller may make. */
const enqueueJobCall = (): fc.Arbitrary<Call> =>
  call('enqueue_job', ENQUEUE_JOB, [type, payload, priority, runAt, maxAttempts, text]);

const trustedCalls = (): fc.Arbitrary<Call> =>
  fc.oneof(
    {
      weight: 5,
      arbitrary: call('enqueue', ENQUEUE, [
        type,
        payload,
        priority,
        runAt,
        maxAttempts,
        text,
        text,
        text,
        text,
        text,
        text,
        metadata,
        keyMode,
        webhookUrl,
      ]),
    },
    {
      weight: 2,
      arbitrary: call('enqueue_many', 'select * from jobdeck.enqueue_many($1)', [specs]),
    },
    {
      weight: 2,
      arbitrary: enqueueJobCall(),
    },
    ...commonCalls(),
  );

/** Calls the API's request roles may make. */
function commonCalls(): { weight: number; arbitrary: fc.Arbitrary<Call> }[] {
  return [
    {
      weight: 2,
      arbitrary: call('cancel_job', 'select * from jobdeck.cancel_job($1, $2)', [jobId(), text]),
    },
    { weight: 2, arbitrary: call('retry_job', 'select * from jobdeck.retry_job($1)', [jobId()]) },
    {
      weight: 1,
      arbitrary: call('job_stats', 'select jobdeck.job_stats($1, $2)', [since, text]),
    },
    { weight: 1, arbitrary: call('priority', 'select jobdeck.priority($1)', [text]) },
  ];
}

const apiCalls = (): fc.Arbitrary<Call> =>
  fc.oneof(
    {
      weight: 5,
      arbitrary: enqueueJobCall(),
    },
    ...commonCalls(),
    // the trusted entry points, which API callers must be refused
    {
      weight: 1,
      arbitrary: call('enqueue', 'select * from jobdeck.enqueue($1, $2)', [type, payload]),
    },
    {
      weight: 1,
      arbitrary: call('enqueue_many', 'select * from jobdeck.enqueue_many($1)', [specs]),
    },
  );

/** Who calls through the API roles: the role and the claims the server would set. */
const callerArb = fc.record({
  role: fc.constantFrom('jobdeck_user', 'jobdeck_user', 'jobdeck_admin', 'jobdeck_anonymous'),
  sub: fc.oneof(
    { arbitrary: fc.constantFrom('alice', 'bob'), weight: 4 },
    { arbitrary: fc.constantFrom(''), weight: 1 },
    { arbitrary: nastyString, weight: 1 },
  ),
  org: fc.oneof(
    { arbitrary: fc.constant('acme'), weight: 4 },
    { arbitrary: fc.constantFrom('globex', ''), weight: 1 },
    { arbitrary: nastyString, weight: 1 },
  ),
  permissions: fc.oneof(
    { arbitrary: fc.constant('*'), weight: 4 },
    {
      arbitrary: fc.constantFrom('', 'jobs.create_jobs,jobs.view_jobs', 'jobs.cancel_jobs'),
      weight: 1,
    },
    { arbitrary: nastyString, weight: 1 },
  ),
});
type Caller = typeof callerArb extends fc.Arbitrary<infer C> ? C : never;

// --- the property ----------------------------------------------------------------------------

/** SQLSTATEs a caller can act on: bad values (22), constraints (23), jobdeck's (JD), refusals. */
const CLEAR = /^(22...|23...|JD\d{3}|42501|P0001)$/;

async function run(client: pg.PoolClient, c: Call, caller: Caller | null): Promise<string> {
  const before = await fingerprint(t.pool);
  let outcome = 'ok';
  await client.query('begin');
  try {
    if (caller) {
      await client.query(`set local role ${caller.role}`);
      await client.query(
        `select set_config('jwt.claims.sub', $1, true), set_config('jwt.claims.org', $2, true),
                set_config('jwt.claims.permissions', $3, true)`,
        // the server never sets control characters (tokens carrying them are refused)
        [caller.sub, caller.org, caller.permissions].map(withoutControlChars),
      );
    }
    await client.query(c.sql, c.params);
    await client.query('commit');
  } catch (error) {
    await client.query('rollback');
    const e = error as { code?: string; message?: string };
    const what = `${c.name}(${JSON.stringify(c.params).slice(0, 400)}) as ${JSON.stringify(caller)}: ${e.code} ${e.message}`;
    expect(e.code, what).toMatch(CLEAR);
    expect(e.message?.length ?? 0, what).toBeGreaterThan(0);
    expect(await fingerprint(t.pool), `${what}: the failed call wrote`).toEqual(before);
    outcome = e.code!;
  }
  return `${c.name} ${outcome}`;
}

async function fuzz(
  calls: fc.Arbitrary<Call>,
  callers: fc.Arbitrary<Caller | null>,
  pool: pg.Pool = t.pool,
) {
  const seen = new Set<string>();
  const client = await pool.connect();
  try {
    await fc.assert(
      fc.asyncProperty(calls, callers, async (c, caller) => {
        seen.add(await run(client, c, caller));
      }),
      fuzzParameters(),
    );
  } finally {
    client.release();
  }
  return seen;
}

describe('SQL API bad arguments (property-based)', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('answers a trusted caller’s random arguments with a result or a clear error, writing nothing on error', async () => {
    const seen = await fuzz(trustedCalls(), fc.constant(null));
    expect([...seen]).toEqual(
      expect.arrayContaining([
        'enqueue ok',
        'enqueue JD001',
        'enqueue JD002',
        'enqueue JD004',
        'enqueue 22P02',
        'enqueue_many ok',
        'enqueue_many JD004',
        'enqueue_job 42501',
        'cancel_job ok',
        'cancel_job JD010',
        'retry_job ok',
        'retry_job JD011',
        'job_stats ok',
      ]),
    );
  });

  it('does the same for the API roles, refusing what they may not do', async () => {
    const seen = await fuzz(apiCalls(), callerArb, api.pool);
    expect([...seen]).toEqual(
      expect.arrayContaining([
        'enqueue_job ok',
        'enqueue_job 42501',
        'enqueue_job JD001',
        'enqueue 42501',
        'enqueue_many 42501',
        'cancel_job 42501',
        'cancel_job JD010',
        'retry_job JD010',
      ]),
    );
  });
});
