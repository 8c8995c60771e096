import fc from 'fast-check';
import type pg from 'pg';

/**
 * Generated cases per property. 1,000 by default (the quick setting `npm test` runs); set
 * JOBDECK_FUZZ_RUNS for a longer hunt, and JOBDECK_FUZZ_SEED to replay a failure fast-check
 * reported.
 */
export const FUZZ_RUNS = Number(process.env['JOBDECK_FUZZ_RUNS'] ?? 1000);

/** A test's time limit: the suite's 60 s per 1,000 cases, so a longer hunt is not cut short. */
export const FUZZ_TIMEOUT_MS = 60_000 * Math.max(1, FUZZ_RUNS / 1000);

/** fast-check parameters for a property of `runs` cases (seeded when JOBDECK_FUZZ_SEED is set). */
export function fuzzParameters(runs = FUZZ_RUNS): fc.Parameters<unknown> {
  const seed = process.env['JOBDECK_FUZZ_SEED'];
  return { numRuns: runs, ...(seed ? { seed: Number(seed) } : {}) };
}

/** SQL injection attempts and other strings that have broken string-built queries before. */
export const INJECTIONS = [
  `' or 1=1 --`,
  `'; drop table jobdeck.jobs; --`,
  `'; delete from jobdeck.jobs; --`,
  `" or ""="`,
  `') or ('a'='a`,
  `admin'--`,
  `1' union select null, version() --`,
  `1; select pg_sleep(5)`,
  `$$; drop table jobdeck.jobs; $$`,
  `'; copy (select '') to program 'id'; --`,
  `%' and 1=0 union select * from pg_user --`,
  `\\'; truncate graphile_worker._private_jobs; --`,
  `1)); drop schema jobdeck cascade; --`,
  `'||(select current_setting('jwt.claims.sub'))||'`,
  `*/ select 1 /*`,
  `%_%`,
  `\\`,
  `{{7*7}}`,
  '${7*7}',
  `<script>alert(1)</script>`,
  `../../../../etc/passwd`,
  `..%2F..%2Fjwt-secret`,
  `__proto__`,
  `constructor`,
  `prototype`,
  `null`,
  `undefined`,
  `NaN`,
  `Infinity`,
  `-1`,
  `0`,
  `1e309`,
  `9007199254740993`,
  ``,
  ` `,
  `\u0000`,
  `a\u0000b`,
  `\u202e\u0000`,
  `\ufeff`,
  `\r\nx-injected: 1`,
] as const;

/** One of {@link INJECTIONS}. */
export const injection = fc.constantFrom(...INJECTIONS);

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const controlChar = fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c));

/**
 * Strings a careless parser or query builder chokes on: injections, control characters, NUL,
 * lone surrogates (not valid UTF-8 once encoded), astral characters, long runs, number-likes.
 */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: injection, weight: 4 },
  { arbitrary: fc.string({ maxLength: 30 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 2 },
  {
    arbitrary: fc.string({
      unit: fc.oneof(loneSurrogate, controlChar, fc.constantFrom('\u2028', '\ufffe', '😀', '%')),
      minLength: 1,
      maxLength: 6,
    }),
    weight: 1,
  },
  { arbitrary: fc.tuple(fc.string({ maxLength: 8 }), injection).map(([a, b]) => a + b), weight: 1 },
  { arbitrary: fc.uuid().map((id) => `${id}' or '1'='1`), weight: 1 },
  { arbitrary: fc.string({ minLength: 300, maxLength: 3000 }), weight: 1 },
);

/** The text with control characters removed (what a signed token or the API lets through). */
export function withoutControlChars(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u001f]/g, '');
}

/** Numbers at and past the edges of int2/int4/int8/double, fractions, negative zero. */
export const edgeNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(
    2 ** 31,
    2 ** 31 - 1,
    -(2 ** 31) - 1,
    32767,
    32768,
    -32769,
    2 ** 53,
    2 ** 53 + 2,
    -(2 ** 53) - 2,
    1e21,
    1e308,
    -1e308,
    5e-324,
    -0,
    0.5,
    1.5,
    -1,
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** Any JSON value, a little deep (as JSON.parse makes it: plain objects, no `-0`). */
export const anyJson: fc.Arbitrary<unknown> = fc
  .jsonValue({ maxDepth: 3 })
  .map((value) => JSON.parse(JSON.stringify(value)) as unknown);

/** A value for any field of a request: strings, numbers, JSON of any type, null. */
export const anyField: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: nastyString, weight: 4 },
  { arbitrary: edgeNumber, weight: 3 },
  { arbitrary: anyJson, weight: 2 },
  { arbitrary: fc.constantFrom(null, true, false, [], {}), weight: 1 },
  {
    arbitrary: fc.dictionary(nastyString, anyJson, { maxKeys: 3, noNullPrototype: true }),
    weight: 1,
  },
);

/** Percent-escapes that do not decode to valid UTF-8 (or do not decode at all). */
export const BROKEN_ESCAPES = [
  '%',
  '%Z',
  '%ZZ',
  '%ff',
  '%c3%28',
  '%ed%a0%80',
  '%f4%90%80%80',
  '%00',
  '%e0%a4%a',
] as const;

/** Percent-encodes every byte of the string's UTF-8 but unreserved characters. */
export function percentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** A URL component: a nasty string percent-encoded, or a broken escape. */
export const urlComponent: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: nastyString.map(percentEncode), weight: 5 },
  { arbitrary: fc.constantFrom(...BROKEN_ESCAPES), weight: 1 },
  {
    arbitrary: fc
      .tuple(fc.string({ maxLength: 5 }), fc.constantFrom(...BROKEN_ESCAPES))
      .map(([a, b]) => percentEncode(a) + b),
    weight: 1,
  },
);

/** A state of the data the fuzzers compare before and after a request. */
export interface Fingerprint {
  /** A hash over every jobdeck.jobs row version (`xmin` changes with any update of a row). */
  jobs: string;
  jobCount: number;
  events: number;
  lastEventId: string | null;
  /** Graphile Worker's jobs, through its public view. */
  workerJobs: number;
}

/**
 * What is stored now, read as the table owner (row-level security does not apply): a rejected
 * request must leave this exactly as it was.
 */
export async function fingerprint(pool: pg.Pool): Promise<Fingerprint> {
  const { rows } = await pool.query<Fingerprint>(
    `select (select md5(coalesce(string_agg(j.id || ':' || j.xmin, ',' order by j.id), '')) from jobdeck.jobs j) as jobs,
            (select count(*)::int from jobdeck.jobs) as "jobCount",
            (select count(*)::int from jobdeck.job_events) as events,
            (select max(id)::text from jobdeck.job_events) as "lastEventId",
            (select count(*)::int from graphile_worker.jobs) as "workerJobs"`,
  );
  return rows[0]!;
}
