import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { JobdeckServer } from '../../src/http/server.ts';
import { tokenFor } from '../helpers/api.ts';
import { waitForStatus, type TestDatabase } from '../helpers/db.ts';
import {
  BROKEN_ESCAPES,
  anyField,
  anyJson,
  edgeNumber,
  fingerprint,
  FUZZ_TIMEOUT_MS,
  fuzzParameters,
  nastyString,
  percentEncode,
  urlComponent,
} from '../helpers/fuzz.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { runTestWorker } from '../helpers/worker.ts';

/**
 * Bad input on every REST route: random JSON, strings, edge numbers, invalid UTF-8, oversized and
 * deep bodies, SQL injection in every field, filter and path parameter. Whatever arrives, the
 * answer is 2xx or 4xx (never 5xx), a 4xx is `{error, message}`, a rejected request writes
 * nothing, and the server keeps answering.
 */

let t: TestDatabase;
let server: JobdeckServer;
const tokens: Record<string, string> = {};
/** Tokens whose (validly signed) user and organisation ids are themselves nasty strings. */
const oddTokens: string[] = [];
const ids: string[] = [];
let exportFile = '';

const REPORT = { reportType: 'quotes', format: 'csv', stepDelayMs: 0 };
const TYPES = ['export_report', 'import_file', 'prune_jobs', 'deliver_webhook'] as const;

const bed = useApiTestbed();

beforeAll(async () => {
  ({ t, server } = bed);
  const { jobdeck, tasks } = bed;
  tokens['alice'] = await tokenFor('alice', 'acme');
  tokens['admin'] = await tokenFor('root', 'acme', { role: 'admin' });
  for (const [user, org] of fc.sample(fc.tuple(nastyString, nastyString), { numRuns: 40, seed: 7 }))
    await tokenFor(user, org).then(
      (token) => oddTokens.push(token),
      () => {}, // ids with control characters cannot be signed, which is right
    );
  // jobs in each state a route treats differently: queued, cancelled, failed, succeeded
  const later = new Date(Date.now() + 3_600_000);
  const queued = await jobdeck.enqueueJob('export_report', REPORT, {
    ownerId: 'alice',
    orgId: 'acme',
    runAt: later,
  });
  const cancelled = await jobdeck.enqueueJob('export_report', REPORT, {
    ownerId: 'alice',
    orgId: 'acme',
    runAt: later,
  });
  await jobdeck.cancelJob(cancelled.id);
  const failed = await jobdeck.enqueueJob(
    'export_report',
    { ...REPORT, reportType: 'no_such_report' },
    { ownerId: 'alice', orgId: 'acme' },
  );
  const succeeded = await jobdeck.enqueueJob('export_report', REPORT, {
    ownerId: 'alice',
    orgId: 'acme',
  });
  const theirs = await jobdeck.enqueueJob('export_report', REPORT, {
    ownerId: 'bob',
    orgId: 'acme',
    runAt: later,
  });
  const worker = await runTestWorker(t, tasks);
  try {
    await waitForStatus(jobdeck, failed.id, 'failed');
    const done = await waitForStatus(jobdeck, succeeded.id, 'succeeded');
    exportFile = String((done.result as { downloadUrl: string }).downloadUrl)
      .split('/')
      .pop()!;
  } finally {
    await worker.stop();
  }
  ids.push(queued.id, cancelled.id, failed.id, succeeded.id, theirs.id);
});

interface RestCase {
  method: string;
  path: string;
  body?: string | Uint8Array;
  contentType?: string;
  /** A token name, an odd token, a raw Authorization value, or none. */
  auth: { token: string } | { header: string } | null;
}

const jobId = () =>
  fc.oneof(
    { arbitrary: fc.constantFrom(...ids), weight: 3 },
    { arbitrary: fc.uuid(), weight: 2 },
    { arbitrary: fc.uuid().map((id) => id.toUpperCase().replaceAll('-', '')), weight: 1 },
    { arbitrary: urlComponent, weight: 4 },
  );

/** `key=value&…` with the given keys (and random ones), values random, sometimes repeated. */
const queryString = (keys: string[], values: fc.Arbitrary<string>) =>
  fc
    .array(
      fc.tuple(
        fc.oneof(
          { arbitrary: fc.constantFrom(...keys), weight: 4 },
          {
            arbitrary: fc.constantFrom('__proto__', 'constructor', 'sort', `${keys[0]}[]`),
            weight: 1,
          },
          { arbitrary: urlComponent, weight: 1 },
        ),
        fc.oneof(
          { arbitrary: values.map(percentEncode), weight: 4 },
          { arbitrary: urlComponent, weight: 3 },
          { arbitrary: edgeNumber.map(String), weight: 2 },
          { arbitrary: fc.constantFrom('', ...BROKEN_ESCAPES), weight: 1 },
        ),
      ),
      { maxLength: 5 },
    )
    .map((pairs) =>
      pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => (v === '' ? k : `${k}=${v}`)).join('&')}`,
    );

const listValues = fc.oneof(
  fc.constantFrom(
    'queued',
    'running',
    'failed',
    'pending',
    'in_progress',
    'export_report',
    '1',
    '25',
    '100',
    '101',
    '0',
  ),
  fc.nat({ max: 2_000_000 }).map(String),
  nastyString,
);
const sinceValues = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2024', 'Tue', '0000-01-01', '+275760-09-13T00:00:00.000Z', '1 Jan 1970', 'now'),
  nastyString,
);

/** A header value fetch will send (it refuses CR, LF, NUL and characters past U+00FF). */
const headerSafe = (text: string) => text.replace(/[^\x20-\x7e\x80-\xff]/g, '?');

const auth = (): fc.Arbitrary<RestCase['auth']> =>
  fc.oneof(
    { arbitrary: fc.constant({ token: tokens['alice']! }), weight: 12 },
    { arbitrary: fc.constant({ token: tokens['admin']! }), weight: 3 },
    { arbitrary: fc.constantFrom(...oddTokens).map((token) => ({ token })), weight: 2 },
    { arbitrary: fc.constant(null), weight: 1 },
    {
      arbitrary: fc
        .oneof(
          nastyString,
          nastyString.map((s) => `Bearer ${s}`),
        )
        .map((s) => ({ header: headerSafe(s) })),
      weight: 2,
    },
  );

const jsonBodyOf = (value: unknown) => JSON.stringify(value) ?? 'null';

/** Hand-written JSON texts: numbers JSON.stringify cannot write, duplicate and prototype keys. */
const JSON_TEXTS = [
  '{"jobType":"export_report","priority":1e400}',
  '{"jobType":"export_report","maxRetries":-1e-400}',
  '{"jobType":"export_report","priority":-0}',
  '{"jobType":"nope","jobType":"export_report","payload":{"reportType":"quotes","format":"csv"}}',
  '{"__proto__":{"jobType":"export_report"}}',
  '{"constructor":{"prototype":{"jobType":"export_report"}}}',
  '{"jobType":"export_report","payload":{"reportType":"quotes","format":"csv","x":"\\u0000"}}',
  '{"jobType":"export_report","payload":{"reportType":"\\udc00","format":"csv"}}',
  '{"jobType":"export_report","payload":{"reportType":"\\ud800\\udc00","format":"csv"}}',
  '{"jobType":"\\u0000"}',
  '{"jobType":"export_report",}',
  '{"jobType":"export_report"',
  '[{"jobType":"export_report"}]',
  '"export_report"',
  'null',
  '',
  ' ',
  '\ufeff{"jobType":"export_report"}',
] as const;

/** UTF-8 that is not: bytes spliced into an otherwise valid body. */
const invalidUtf8 = fc
  .tuple(fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.constantFrom('jobType', 'payload'))
  .map(([bytes, field]) => {
    const bad = Uint8Array.from(bytes, (b) => b | 0x80);
    const head = Buffer.from(
      field === 'jobType' ? '{"jobType":"' : '{"jobType":"export_report","payload":{"reportType":"',
    );
    const tail = Buffer.from(field === 'jobType' ? '"}' : '","format":"csv"}}');
    return new Uint8Array(Buffer.concat([head, bad, tail]));
  });

const rare = fc.oneof(
  // past the body limit (JOBDECK_MAX_BODY_BYTES, 1 MiB + 64 KiB by default)
  fc.constant(
    jsonBodyOf({ jobType: 'export_report', payload: { ...REPORT, x: 'y'.repeat(1_200_000) } }),
  ),
  // nested past the 64 levels the server accepts
  fc
    .integer({ min: 65, max: 5000 })
    .map((n) => `{"jobType":"export_report","payload":${'{"a":'.repeat(n)}{}${'}'.repeat(n)}}`),
  fc
    .integer({ min: 65, max: 5000 })
    .map((n) => `{"jobType":"export_report","payload":{"a":${'['.repeat(n)}${']'.repeat(n)}}}`),
  // under the body limit but over the payload limit for the type (JD003)
  fc.constant(
    jsonBodyOf({ jobType: 'export_report', payload: { ...REPORT, x: 'y'.repeat(1_048_600) } }),
  ),
);

/** Bodies for POST /v1/jobs: mostly shaped like the real thing, with nasty values anywhere. */
const createBody = (): fc.Arbitrary<string | Uint8Array> =>
  fc.oneof(
    {
      arbitrary: fc
        .record(
          {
            jobType: fc.oneof(
              { arbitrary: fc.constantFrom(...TYPES), weight: 4 },
              { arbitrary: anyField, weight: 1 },
            ),
            payload: fc.oneof(
              {
                weight: 4,
                arbitrary: fc.record(
                  {
                    reportType: fc.oneof(fc.constantFrom('quotes', 'orders'), anyField),
                    format: fc.oneof(fc.constantFrom('csv', 'json'), anyField),
                    filename: fc.oneof(nastyString, anyField),
                    stepDelayMs: fc.oneof(fc.constant(0), anyField),
                    filters: fc.oneof(
                      fc.dictionary(nastyString, anyField, { maxKeys: 3 }),
                      anyField,
                    ),
                  },
                  { requiredKeys: [] },
                ),
              },
              { weight: 1, arbitrary: anyField },
            ),
            priority: fc.oneof(
              { arbitrary: fc.integer({ min: -25, max: 15 }), weight: 3 },
              { arbitrary: anyField, weight: 1 },
            ),
            maxRetries: fc.oneof(
              { arbitrary: fc.integer({ min: -2, max: 30 }), weight: 3 },
              { arbitrary: anyField, weight: 1 },
            ),
          },
          { requiredKeys: ['jobType'] },
        )
        .chain((body) =>
          // now and then a field the route does not take (ownerId would be a privilege escalation)
          fc
            .option(fc.tuple(fc.constantFrom('ownerId', 'orgId', 'status', 'x'), nastyString))
            .map((extra) => jsonBodyOf(extra ? { ...body, [extra[0]]: extra[1] } : body)),
        ),
      weight: 10,
    },
    { arbitrary: anyJson.map(jsonBodyOf), weight: 2 },
    { arbitrary: nastyString, weight: 1 },
    { arbitrary: fc.constantFrom(...JSON_TEXTS), weight: 2 },
    { arbitrary: invalidUtf8, weight: 2 },
    { arbitrary: fc.uint8Array({ maxLength: 64 }), weight: 1 },
    { arbitrary: rare, weight: 1 },
  );

const contentType = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 12 },
  {
    arbitrary: fc.constantFrom(
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset=utf-16',
      'application/json; charset=latin1',
      'application/xml',
      '',
    ),
    weight: 2,
  },
  { arbitrary: nastyString.map(headerSafe), weight: 1 },
);

/** Requests that carry a body: creating jobs, and bodies where none is expected. */
const bodyCase = (): fc.Arbitrary<RestCase> =>
  fc.oneof(
    {
      arbitrary: fc.record({
        method: fc.constant('POST'),
        path: fc.constant('/v1/jobs'),
        body: createBody(),
        contentType,
        auth: auth(),
      }),
      weight: 8,
    },
    {
      arbitrary: fc.record({
        method: fc.constant('POST'),
        path: fc.tuple(jobId(), fc.constantFrom('cancel', 'retry')).map(([id, what]) => {
          return `/v1/jobs/${id}/${what}`;
        }),
        body: createBody(),
        contentType,
        auth: auth(),
      }),
      weight: 2,
    },
    {
      arbitrary: fc.record({
        method: fc.constantFrom('POST', 'DELETE'),
        path: jobId().map((id) => `/api/v1/admin/jobs/${id}`),
        body: createBody(),
        contentType,
        auth: auth(),
      }),
      weight: 1,
    },
  );

/** Requests whose input is the path and the query string. */
const pathCase = (): fc.Arbitrary<RestCase> => {
  const get = (path: fc.Arbitrary<string>, method: fc.Arbitrary<string> = fc.constant('GET')) =>
    fc.record({ method, path, auth: auth() });
  const listKeys = ['page', 'pageSize', 'status', 'jobType'];
  return fc.oneof(
    get(queryString(listKeys, listValues).map((q) => `/v1/jobs${q}`)),
    get(
      queryString(['page', 'page_size', 'limit', 'offset', 'status', 'job_type'], listValues).map(
        (q) => `/api/v1/admin/jobs${q}`,
      ),
    ),
    get(jobId().map((id) => `/v1/jobs/${id}/status`)),
    get(
      jobId().map((id) => `/v1/jobs/${id}/cancel`),
      fc.constant('POST'),
    ),
    get(
      jobId().map((id) => `/v1/jobs/${id}/retry`),
      fc.constant('POST'),
    ),
    get(
      jobId().map((id) => `/api/v1/admin/jobs/${id}/retry`),
      fc.constant('POST'),
    ),
    get(
      jobId().map((id) => `/api/v1/admin/jobs/${id}`),
      fc.constant('DELETE'),
    ),
    get(jobId().map((id) => `/api/v1/jobs/${id}`)),
    get(fc.constant('/api/v1/cron/jobs')),
    get(jobId().map((id) => `/jobs/${id}`)),
    get(
      fc
        .tuple(jobId(), queryString(['limit', 'offset', 'level'], listValues))
        .map(([id, q]) => `/jobs/${id}/logs${q}`),
    ),
    get(
      queryString(['status', 'priority', 'limit', 'offset', 'job_type'], listValues).map(
        (q) => `/jobs${q}`,
      ),
    ),
    get(
      jobId().map((id) => `/jobs/${id}/cancel`),
      fc.constant('POST'),
    ),
    get(
      jobId().map((id) => `/jobs/${id}/retry`),
      fc.constant('POST'),
    ),
    get(queryString(['since', 'job_type'], sinceValues).map((q) => `/jobs/stats${q}`)),
    // times JavaScript can parse and PostgreSQL cannot store
    get(
      fc
        .constantFrom(
          '0000-01-01',
          '2',
          '+275760-09-13T00:00:00.000Z',
          '-271821-04-20',
          '12345-01-01',
        )
        .map((since) => `/jobs/stats?since=${percentEncode(since)}`),
    ),
    get(queryString(['since', 'job_type'], sinceValues).map((q) => `/api/v1/admin/jobs/stats${q}`)),
    get(queryString(['page', 'status'], listValues).map((q) => `/api/v2/jobs/active${q}`)),
    get(
      fc
        .oneof(
          fc.constant(exportFile),
          fc.constant(exportFile).map((f) => f.replace(/\.csv$/, '.json')),
          urlComponent,
          fc.constantFrom('..%2F..%2Fjwt-secret', '.', '..', '%2e%2e', 'a%2F..%2F..%2Fetc'),
        )
        .map((file) => `/api/v1/exports/${file}`),
    ),
    get(jobId().map((id) => `/v1/jobs/${id}/events`)),
    get(queryString(['since'], listValues).map((q) => `/v1/jobs/events${q}`)),
  );
};

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

async function send(c: RestCase): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (c.auth && 'token' in c.auth) headers['authorization'] = `Bearer ${c.auth.token}`;
  if (c.auth && 'header' in c.auth) headers['authorization'] = c.auth.header;
  if (c.contentType !== undefined && c.contentType !== '') headers['content-type'] = c.contentType;
  const controller = new AbortController();
  const response = await fetch(`${server.url}${c.path}`, {
    method: c.method,
    headers,
    body: c.body,
    signal: controller.signal,
  });
  const type = response.headers.get('content-type') ?? '';
  if (type.startsWith('text/event-stream')) {
    // an event stream the caller may open: leave it, it never ends by itself
    controller.abort();
    return { status: response.status, contentType: type, text: '' };
  }
  return { status: response.status, contentType: type, text: await response.text() };
}

/** Checks one request against the properties every route keeps. */
/** Checks one request against the properties every route keeps; returns `status error`. */
async function checkRequest(c: RestCase): Promise<string> {
  const before = await fingerprint(t.pool);
  const answer = await send(c);
  const what = `${c.method} ${c.path.slice(0, 300)} → ${answer.status} ${answer.text.slice(0, 300)}`;
  expect(answer.status, what).toBeGreaterThanOrEqual(200);
  expect(answer.status, what).toBeLessThan(500);
  if (answer.status >= 400) {
    expect(answer.contentType, what).toMatch(/^application\/json/);
    const body = JSON.parse(answer.text) as Record<string, unknown>;
    expect(Object.keys(body).sort(), what).toEqual(['error', 'message']);
    expect(body['error'], what).toMatch(/^[a-z_]+$/);
    expect(typeof body['message'] === 'string' && body['message'].length > 0, what).toBe(true);
    // no stack trace, no internals
    expect(body['message'], what).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
    expect(await fingerprint(t.pool), `${what}: a rejected request wrote`).toEqual(before);
  }
  const health = await fetch(`${server.url}/healthz`);
  expect(health.status, `${what}: /healthz after it`).toBe(200);
  return answer.status >= 400
    ? `${answer.status} ${(JSON.parse(answer.text) as { error: string }).error}`
    : String(answer.status);
}

/** Runs the property and returns which outcomes it saw, so a test can check it reached deep. */
async function fuzz(cases: fc.Arbitrary<RestCase>): Promise<Set<string>> {
  const seen = new Set<string>();
  await fc.assert(
    fc.asyncProperty(cases, async (c) => {
      seen.add(await checkRequest(c));
    }),
    fuzzParameters(),
  );
  return seen;
}

describe('REST bad input (property-based)', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('answers any body with 2xx or {error, message} 4xx, writing nothing when it refuses', async () => {
    const seen = await fuzz(bodyCase());
    // the cases got past parsing into validation, the database and the body limit
    expect([...seen].sort()).toEqual(
      expect.arrayContaining([
        '201',
        '400 bad_request',
        '400 invalid_request',
        '400 invalid_payload',
        '400 invalid_argument',
        '400 unknown_job_type',
        '401 unauthorized',
        '409 invalid_state',
        '413 payload_too_large',
        '415 unsupported_media_type',
      ]),
    );
  });

  it('answers any path parameter and query string likewise, on every route', async () => {
    const seen = await fuzz(pathCase());
    expect([...seen].sort()).toEqual(
      expect.arrayContaining([
        '200',
        '400 bad_request',
        '400 invalid_request',
        '400 invalid_argument',
        '401 unauthorized',
        '403 forbidden',
        '404 not_found',
        '409 invalid_state',
      ]),
    );
  });
});
