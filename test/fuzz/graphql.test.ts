import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { JobdeckServer } from '../../src/http/server.ts';
import { gql, tokenFor } from '../helpers/api.ts';
import type { TestDatabase } from '../helpers/db.ts';
import {
  anyField,
  anyJson,
  edgeNumber,
  fingerprint,
  FUZZ_TIMEOUT_MS,
  fuzzParameters,
  injection,
  nastyString,
} from '../helpers/fuzz.ts';
import { useApiTestbed } from '../helpers/testbed.ts';

/**
 * Bad input through GraphQL: random variables for the three mutations, injection strings in every
 * filter, condition and ordering, random and garbled documents, deep and wide queries, huge
 * pagination arguments, malformed request bodies. Never a 5xx; every error either carries a
 * `code` or is a request error (400: syntax, validation, variables); nothing is written by an
 * operation that failed, nor by any query.
 */

let t: TestDatabase;
let server: JobdeckServer;
const tokens: Record<string, string> = {};
const ids: string[] = [];
let cursor = '';

const bed = useApiTestbed();

beforeAll(async () => {
  ({ t, server } = bed);
  const { jobdeck } = bed;
  tokens['alice'] = await tokenFor('alice', 'acme');
  tokens['admin'] = await tokenFor('root', 'acme', { role: 'admin' });
  tokens['viewer'] = await tokenFor('alice', 'acme', { permissions: ['jobs.view_jobs'] });
  const later = new Date(Date.now() + 3_600_000);
  const report = { reportType: 'quotes', format: 'csv' };
  for (const owner of ['alice', 'alice', 'bob']) {
    const job = await jobdeck.enqueueJob('export_report', report, {
      ownerId: owner,
      orgId: 'acme',
      runAt: later,
    });
    ids.push(job.id);
  }
  await jobdeck.cancelJob(ids[1]!);
  const page = await gql<{ jobs: { pageInfo: { endCursor: string } } }>(
    server,
    '{ jobs(first: 1) { pageInfo { endCursor } } }',
    { token: tokens['alice']! },
  );
  cursor = page.data!.jobs.pageInfo.endCursor;
});

// --- documents -------------------------------------------------------------------------------

const DOCS = {
  enqueue: `mutation($input: EnqueueJobInput!) { enqueueJob(input: $input) { job { id status ownerId orgId priority } } }`,
  cancel: `mutation($id: UUID!, $reason: String) { cancelJob(input: { id: $id, reason: $reason }) { job { id status } } }`,
  retry: `mutation($id: UUID!) { retryJob(input: { id: $id }) { job { id status } } }`,
  job: `query($id: UUID!) { job(id: $id) { id status payload events { totalCount nodes { message } } attemptHistory { nodes { attempt outcome } } } }`,
  jobs: `query($filter: JobFilter, $condition: JobCondition, $orderBy: [JobOrderBy!], $first: Int, $last: Int, $offset: Int, $after: Cursor, $before: Cursor) {
    jobs(filter: $filter, condition: $condition, orderBy: $orderBy, first: $first, last: $last, offset: $offset, after: $after, before: $before) {
      totalCount nodes { id type } pageInfo { endCursor hasNextPage } aggregates { distinctCount { id } sum { priority } max { createdAt } }
    } }`,
  active: `query($filter: JobFilter, $first: Int, $offset: Int, $after: Cursor, $orderBy: [JobOrderBy!]) {
    activeJobs(filter: $filter, first: $first, offset: $offset, after: $after, orderBy: $orderBy) { totalCount nodes { id } } }`,
  grouped: `query($groupBy: [JobGroupBy!]!, $having: JobHavingInput, $filter: JobFilter) {
    jobs(filter: $filter) { groupedAggregates(groupBy: $groupBy, having: $having) { keys distinctCount { id } sum { priority } } } }`,
  stats: `query($since: Datetime, $type: String) { jobStats(since: $since, type: $type) }`,
  subscription: `subscription { myJobsChanged { id status } }`,
  subscriptionOne: `subscription($id: UUID!) { jobUpdated(id: $id) { id status } }`,
} as const;

const STRING_FIELDS = ['type', 'status', 'currentStep', 'ownerId', 'orgId'] as const;
const STRING_OPS = [
  'isNull',
  'equalTo',
  'notEqualTo',
  'distinctFrom',
  'in',
  'notIn',
  'lessThan',
  'greaterThanOrEqualTo',
  'includes',
  'notIncludes',
  'includesInsensitive',
  'startsWith',
  'endsWithInsensitive',
  'like',
  'notLike',
  'likeInsensitive',
  'equalToInsensitive',
  'inInsensitive',
  'greaterThanInsensitive',
] as const;
const INT_FIELDS = ['priority', 'progress'] as const;
const DATE_FIELDS = ['runAt', 'createdAt', 'startedAt', 'updatedAt'] as const;
const COMPARE_OPS = ['isNull', 'equalTo', 'notEqualTo', 'in', 'notIn', 'lessThan', 'greaterThan'];
const ORDER_BY = [
  'NATURAL',
  'PRIMARY_KEY_ASC',
  'ID_DESC',
  'TYPE_ASC',
  'STATUS_DESC',
  'PRIORITY_ASC',
  'CREATED_AT_DESC',
  'EVENTS_COUNT_DESC',
  'EVENTS_STDDEV_SAMPLE_ID_ASC',
];
const GROUP_BY = [
  'TYPE',
  'STATUS',
  'PRIORITY',
  'CREATED_AT_TRUNCATED_TO_DAY',
  'OWNER_ID',
  'ORG_ID',
];

const dateValue = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('0000-01-01', '+275760-09-13T00:00:00.000Z', 'infinity', '-infinity', 'epoch'),
  fc.constantFrom('2024-02-30', '2024-01-01T25:00:00Z', '1970-01-01T00:00:00+99:00', 'now'),
  nastyString,
);

/** An operator with a value of its type (mostly) or anything (now and then). */
const operator = (ops: readonly string[], value: fc.Arbitrary<unknown>) =>
  fc
    .tuple(
      fc.constantFrom(...ops),
      fc.oneof({ arbitrary: value, weight: 5 }, { arbitrary: anyField, weight: 1 }),
    )
    .map(([op, v]) =>
      op === 'isNull'
        ? { isNull: typeof v === 'boolean' ? v : true }
        : /^(not)?[iI]n(Insensitive)?$/.test(op)
          ? { [op]: Array.isArray(v) ? v : [v] }
          : { [op]: v },
    );

const filterLeaf = () =>
  fc.oneof(
    {
      arbitrary: fc
        .tuple(fc.constantFrom(...STRING_FIELDS), operator(STRING_OPS, nastyString))
        .map(([field, op]) => ({ [field]: op })),
      weight: 6,
    },
    {
      arbitrary: fc
        .tuple(fc.constantFrom(...INT_FIELDS), operator(COMPARE_OPS, edgeNumber))
        .map(([field, op]) => ({ [field]: op })),
      weight: 2,
    },
    {
      arbitrary: fc
        .tuple(fc.constantFrom(...DATE_FIELDS), operator(COMPARE_OPS, dateValue))
        .map(([field, op]) => ({ [field]: op })),
      weight: 2,
    },
    {
      arbitrary: operator(
        COMPARE_OPS,
        fc.oneof(fc.uuid(), fc.constantFrom(...ids), nastyString),
      ).map((op) => ({ id: op })),
      weight: 2,
    },
    { arbitrary: fc.boolean().map((b) => ({ eventsExist: b })), weight: 1 },
    {
      arbitrary: fc.dictionary(nastyString, anyJson, { minKeys: 1, maxKeys: 2 }),
      weight: 1,
    },
  );

/** A JobFilter: leaves combined with and/or/not and through the job's events. */
const filterArb = () =>
  fc.letrec<{ filter: Record<string, unknown> }>((tie) => ({
    filter: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      { arbitrary: filterLeaf(), weight: 6 },
      { arbitrary: fc.array(tie('filter'), { maxLength: 3 }).map((and) => ({ and })), weight: 1 },
      { arbitrary: fc.array(tie('filter'), { maxLength: 3 }).map((or) => ({ or })), weight: 1 },
      { arbitrary: tie('filter').map((not) => ({ not })), weight: 1 },
      {
        arbitrary: fc
          .tuple(fc.constantFrom('some', 'every', 'none'), tie('filter'))
          .map(([quantifier, job]) => ({ events: { [quantifier]: { job } } })),
        weight: 1,
      },
    ),
  })).filter;

const pageArg = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 3 },
  { arbitrary: fc.constantFrom(0, 1, 20, 2_147_483_647, -1, -2_147_483_648), weight: 3 },
  { arbitrary: edgeNumber, weight: 1 },
  { arbitrary: anyField, weight: 1 },
);
const cursorArgs = () =>
  fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 4 },
    { arbitrary: fc.constant(cursor), weight: 1 },
    {
      arbitrary: anyJson.map((v) => Buffer.from(JSON.stringify(v) ?? '').toString('base64')),
      weight: 1,
    },
    { arbitrary: nastyString, weight: 1 },
  );
const orderByArg = fc.oneof(
  fc.constant(undefined),
  fc.array(fc.constantFrom(...ORDER_BY), { maxLength: 3 }),
  fc.array(fc.oneof(fc.constantFrom(...ORDER_BY), nastyString), { maxLength: 3 }),
);
const idArg = () =>
  fc.oneof(
    { arbitrary: fc.constantFrom(...ids), weight: 3 },
    { arbitrary: fc.uuid(), weight: 2 },
    { arbitrary: fc.constantFrom(...ids).map((id) => id.toUpperCase()), weight: 1 },
    { arbitrary: anyField, weight: 3 },
  );

/** A request body as the server receives it: document + variables (+ operation name). */
interface GraphqlCase {
  body: string | Uint8Array;
  auth: string | null;
}

const variablesCase = (): fc.Arbitrary<{ query: string; variables: Record<string, unknown> }> => {
  const filter = filterArb();
  const cursorArg = cursorArgs();
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .record(
          {
            type: fc.oneof(
              {
                arbitrary: fc.constantFrom('export_report', 'import_file', 'prune_jobs'),
                weight: 3,
              },
              { arbitrary: anyField, weight: 2 },
            ),
            payload: fc.oneof(
              fc.record(
                {
                  reportType: fc.oneof(fc.constant('quotes'), nastyString),
                  format: fc.oneof(fc.constantFrom('csv', 'json'), anyField),
                  filename: nastyString,
                },
                { requiredKeys: [] },
              ),
              anyField,
            ),
            priority: fc.oneof(fc.integer({ min: -25, max: 15 }), anyField),
            runAt: fc.oneof(dateValue, anyField),
            maxAttempts: fc.oneof(fc.integer({ min: -1, max: 30 }), anyField),
            key: fc.oneof(nastyString, anyField),
            clientMutationId: anyField,
          },
          { requiredKeys: [] },
        )
        .chain((input) =>
          fc
            .option(fc.tuple(fc.constantFrom('ownerId', 'orgId', 'queue', 'x'), anyField))
            .map((extra) => ({
              query: DOCS.enqueue,
              variables: { input: extra ? { ...input, [extra[0]]: extra[1] } : input },
            })),
        ),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.constantFrom(DOCS.cancel, DOCS.retry, DOCS.job), idArg(), anyField)
        .map(([query, id, reason]) => ({ query, variables: { id, reason } })),
    },
    {
      // the real jobs, in states that allow one of the two and refuse the other
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom(DOCS.cancel, DOCS.retry), fc.constantFrom(...ids))
        .map(([query, id]) => ({ query, variables: { id } })),
    },
    {
      weight: 5,
      arbitrary: fc
        .record(
          {
            filter,
            condition: fc.oneof(
              fc
                .tuple(fc.constantFrom(...STRING_FIELDS, 'id', 'priority', 'createdAt'), anyField)
                .map(([field, value]) => ({ [field]: value })),
              fc.constant(undefined),
            ),
            orderBy: orderByArg,
            first: pageArg,
            last: pageArg,
            offset: pageArg,
            after: cursorArg,
            before: cursorArg,
          },
          { requiredKeys: [] },
        )
        .map((variables) => ({ query: DOCS.jobs, variables })),
    },
    {
      weight: 2,
      arbitrary: fc
        .record(
          { filter, first: pageArg, offset: pageArg, after: cursorArg, orderBy: orderByArg },
          { requiredKeys: [] },
        )
        .map((variables) => ({ query: DOCS.active, variables })),
    },
    {
      weight: 2,
      arbitrary: fc
        .record({
          groupBy: fc.oneof(
            fc.array(fc.constantFrom(...GROUP_BY), { minLength: 1, maxLength: 3 }),
            fc.array(fc.oneof(fc.constantFrom(...GROUP_BY), nastyString), { maxLength: 2 }),
          ),
          having: fc.oneof(
            fc.constant(undefined),
            fc
              .tuple(
                fc.constantFrom('sum', 'distinctCount', 'max', 'average'),
                fc.constantFrom('priority', 'progress', 'attempts'),
                fc.constantFrom('equalTo', 'greaterThan', 'lessThanOrEqualTo'),
                fc.oneof(edgeNumber, anyField),
              )
              .map(([agg, field, op, value]) => ({ [agg]: { [field]: { [op]: value } } })),
            anyJson,
          ),
          filter: fc.option(filter, { nil: undefined }),
        })
        .map((variables) => ({ query: DOCS.grouped, variables })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({ since: fc.oneof(dateValue, anyField), type: fc.oneof(nastyString, anyField) })
        .map((variables) => ({ query: DOCS.stats, variables })),
    },
  );
};

/** Literal arguments spliced into the document text instead of passed as variables. */
const literalCase = fc
  .tuple(
    fc.oneof(injection, nastyString),
    fc.constantFrom(
      (s: string) => `{ jobs(filter: { type: { equalTo: ${s} } }) { totalCount } }`,
      (s: string) => `{ jobs(condition: { ownerId: ${s} }) { nodes { id } } }`,
      (s: string) => `{ jobStats(type: ${s}) }`,
      (s: string) => `{ job(id: ${s}) { id } }`,
      (s: string) =>
        `mutation { enqueueJob(input: { type: ${s}, payload: { a: ${s} } }) { job { id } } }`,
      (s: string) =>
        `mutation { cancelJob(input: { id: "${ids[0]}", reason: ${s} }) { job { id } } }`,
    ),
    fc.boolean(),
  )
  // as a GraphQL string literal (escaped), or spliced in raw
  .map(([s, doc, quoted]) => ({ query: doc(quoted ? JSON.stringify(s) : s), variables: {} }));

/** Valid documents with random edits: characters dropped, punctuation and keywords inserted. */
const garbledCase = fc
  .tuple(
    fc.constantFrom(...Object.values(DOCS)),
    fc.array(
      fc.record({
        at: fc.nat(),
        drop: fc.nat({ max: 6 }),
        insert: fc.oneof(
          fc.constantFrom(
            '{',
            '}',
            '(',
            ')',
            '[',
            ']',
            '$',
            '!',
            ':',
            '"',
            '"""',
            '#',
            '\\u',
            '...',
            '@skip(if: true)',
            '@include(if: $nope)',
            'query',
            'mutation',
            'subscription',
            'fragment F on Job { ...F }',
            '__schema { types { name } }',
            '__typename',
          ),
          nastyString,
        ),
      }),
      { minLength: 1, maxLength: 4 },
    ),
    anyJson,
  )
  .map(([doc, edits, variables]) => {
    let text: string = doc;
    for (const edit of edits) {
      const at = edit.at % (text.length + 1);
      text = text.slice(0, at) + edit.insert + text.slice(at + edit.drop);
    }
    return {
      query: text,
      variables: (typeof variables === 'object' && variables !== null && !Array.isArray(variables)
        ? variables
        : {}) as Record<string, unknown>,
    };
  });

/** Deep, wide and self-referencing documents, which the server's limits must refuse cheaply. */
const heavyCase = fc.oneof(
  fc.integer({ min: 1, max: 80 }).map((n) => ({
    query: `{ ${'query { '.repeat(n)}__typename${' }'.repeat(n)} }`,
    variables: {},
  })),
  fc.integer({ min: 1, max: 12 }).map((n) => ({
    query: `{ jobs { nodes { ${'events { nodes { job { '.repeat(n)}id${' } } }'.repeat(n)} } } }`,
    variables: {},
  })),
  fc.integer({ min: 1, max: 3000 }).map((n) => ({
    query: `{ ${Array.from({ length: n }, (_, i) => `a${i}: jobs { totalCount }`).join(' ')} }`,
    variables: {},
  })),
  fc.integer({ min: 2, max: 200 }).map((n) => ({
    query: `query { ...F0 } ${Array.from({ length: n }, (_, i) => `fragment F${i} on Query { a${i}: __typename ...F${(i + 1) % n} ...F${(i + 2) % n} }`).join(' ')}`,
    variables: {},
  })),
  fc.integer({ min: 60, max: 3000 }).map((n) => ({
    query: `{ jobs(filter: ${'{ not: '.repeat(n)}{ type: { equalTo: "x" } }${' }'.repeat(n)}) { totalCount } }`,
    variables: {},
  })),
  fc.integer({ min: 1, max: 64 }).map((n) => ({
    query: `query($f: JobFilter) { jobs(filter: $f) { totalCount } }`,
    variables: { f: JSON.parse(`${'{"not":'.repeat(n)}{"type":{"equalTo":"x"}}${'}'.repeat(n)}`) },
  })),
  fc.constantFrom(DOCS.subscription, DOCS.subscriptionOne).map((query) => ({
    query,
    variables: { id: ids[0] },
  })),
);

/** Request bodies that are not GraphQL requests at all. */
const RAW_BODIES = [
  '',
  'null',
  '[]',
  '"{ jobs { totalCount } }"',
  '[{"query":"{ jobs { totalCount } }"}]',
  '{"query": 5}',
  '{"query": null}',
  '{"query": ["{ jobs { totalCount } }"]}',
  '{"query": "{ jobs { totalCount } }", "variables": "{}"}',
  '{"query": "{ jobs { totalCount } }", "variables": [1]}',
  '{"query": "{ jobs { totalCount } }", "variables": {"__proto__": {"x": 1}}}',
  '{"query": "{ jobs { totalCount } }", "operationName": 5}',
  '{"query": "query A { jobs { totalCount } } query B { activeJobs { totalCount } }"}',
  '{"query": "query A { jobs { totalCount } }", "operationName": "\' or 1=1 --"}',
  '{"query": "{ jobs { totalCount } }", "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "x"}}}',
  '{"query": "{ jobs { totalCount } }",}',
  '{"query": "{ jobs(first: 1e400) { totalCount } }"}',
  '{"query": "query($n: Int) { jobs(first: $n) { totalCount } }", "variables": {"n": 1e400}}',
] as const;

const graphqlCase = (): fc.Arbitrary<GraphqlCase> =>
  fc.record({
    body: fc.oneof(
      { arbitrary: variablesCase().map((b) => JSON.stringify(b)), weight: 12 },
      { arbitrary: literalCase.map((b) => JSON.stringify(b)), weight: 3 },
      { arbitrary: garbledCase.map((b) => JSON.stringify(b)), weight: 4 },
      { arbitrary: heavyCase.map((b) => JSON.stringify(b)), weight: 2 },
      {
        arbitrary: fc.oneof(
          fc.constantFrom(...RAW_BODIES),
          nastyString,
          fc.uint8Array({ minLength: 1, maxLength: 40 }).map((bytes) => {
            // a body whose document is not UTF-8
            const head = Buffer.from('{"query":"{ jobs(filter: { type: { equalTo: \\"');
            const tail = Buffer.from('\\" } }) { totalCount } }"}');
            return new Uint8Array(
              Buffer.concat([head, Buffer.from(bytes.map((b) => b | 0x80)), tail]),
            );
          }),
        ),
        weight: 2,
      },
    ),
    auth: fc.oneof(
      { arbitrary: fc.constant(tokens['alice']!), weight: 10 },
      { arbitrary: fc.constant(tokens['admin']!), weight: 2 },
      { arbitrary: fc.constant(tokens['viewer']!), weight: 1 },
      { arbitrary: fc.constant(null), weight: 2 },
      { arbitrary: fc.constant('not-a-token'), weight: 1 },
    ),
  });

// --- the property ----------------------------------------------------------------------------

interface Outcome {
  status: number;
  codes: string[];
}

async function checkOperation(c: GraphqlCase): Promise<Outcome> {
  const before = await fingerprint(t.pool);
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      // request errors as 4xx (the GraphQL-over-HTTP media type), so they can be told apart
      accept: 'application/graphql-response+json',
      ...(c.auth ? { authorization: `Bearer ${c.auth}` } : {}),
    },
    body: c.body,
    // a request that never answers is a failure too (a subscription over POST, a stuck plan)
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  const what = `${typeof c.body === 'string' ? c.body.slice(0, 400) : '<bytes>'} → ${response.status} ${text.slice(0, 400)}`;
  expect(response.status, what).toBeLessThan(500);
  const result = JSON.parse(text) as {
    data?: Record<string, unknown> | null;
    errors?: { message: string; extensions?: { code?: unknown } }[];
    error?: string;
    message?: string;
  };
  const codes: string[] = [];
  if (result.error !== undefined) {
    // refused before GraphQL: a body Fastify cannot parse
    expect(response.status, what).toBe(400);
    expect(Object.keys(result).sort(), what).toEqual(['error', 'message']);
    codes.push(result.error);
  }
  for (const error of result.errors ?? []) {
    expect(error.message, what).not.toMatch(/An error occurred \(logged with hash/);
    expect(error.message, what).not.toMatch(/\n\s+at |node_modules/);
    const code = error.extensions?.code;
    // executed operations name each error's kind; request errors (syntax, validation, variables,
    // limits, subscriptions over HTTP) are refused as a whole with 400, 401 or 405 before anything
    // runs
    if (response.status === 200) expect(typeof code, what).toBe('string');
    else expect([400, 401, 405], what).toContain(response.status);
    codes.push(typeof code === 'string' ? code : `HTTP ${response.status}`);
  }
  const wrote = Object.values(result.data ?? {}).some((value) => value !== null);
  if (!wrote || !/\bmutation\b/.test(String(c.body)))
    expect(await fingerprint(t.pool), `${what}: written by a failed operation or a query`).toEqual(
      before,
    );
  expect((await fetch(`${server.url}/healthz`)).status, `${what}: /healthz after it`).toBe(200);
  return { status: response.status, codes };
}

describe('GraphQL bad input (property-based)', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('answers random variables, filters, documents and bodies without a 5xx or a stray write', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(graphqlCase(), async (c) => {
        const outcome = await checkOperation(c);
        seen.add(String(outcome.status));
        for (const code of outcome.codes) seen.add(code);
      }),
      fuzzParameters(),
    );
    // the cases reached execution, the database's checks and the server's limits
    expect([...seen].sort()).toEqual(
      expect.arrayContaining([
        '200',
        '400',
        '401',
        'BAD_USER_INPUT',
        'FORBIDDEN',
        'NOT_FOUND',
        'INVALID_STATE',
        'HTTP 400',
      ]),
    );
  });
});
