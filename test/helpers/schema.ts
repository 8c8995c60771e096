import type pg from 'pg';
import { dumpSchema } from '../../src/db/schema-dump.ts';

/** The schema dump of the database behind `pool` (one connection: the dump reads in one transaction). */
export async function dumpOf(pool: pg.Pool): Promise<string> {
  const client = await pool.connect();
  try {
    return await dumpSchema(client);
  } finally {
    client.release();
  }
}

/**
 * Where two dumps part, as the lines of each between the first and the last line that differ
 * (at most `limit` of each), for a failure message a reader can act on without a diff tool.
 */
export function describeDifference(
  expected: string,
  actual: string,
  labels: [string, string],
  limit = 40,
): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const show = (lines: string[], from: number, to: number, label: string) => {
    const shown = lines.slice(from, Math.min(to, from + limit));
    const more = to - from - shown.length;
    return [
      `--- ${label}, lines ${from + 1}-${to} (${to - from} lines):`,
      ...shown.map((line) => `  ${line}`),
      ...(more > 0 ? [`  … ${more} more`] : []),
    ].join('\n');
  };
  // The object the first difference is in: the nearest statement that starts a line above it.
  const within = a
    .slice(0, start + 1)
    .reverse()
    .find((line) => /^(create|CREATE) /.test(line));
  return [
    `the dumps differ from line ${start + 1}${within ? `, in ${within.replace(/\s*\($/, '')}` : ''}:`,
    show(a, start, endA, labels[0]),
    show(b, start, endB, labels[1]),
  ].join('\n');
}
