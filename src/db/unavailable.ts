/**
 * Whether the database could not be reached or is restarting (connection refused or lost,
 * "the database system is starting up / shutting down", admin shutdown): a 503, not a 500.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; severity?: unknown; message?: unknown };
  if (typeof e.code === 'string') {
    if (/^(08|57P0[1-3])/.test(e.code)) return true;
    if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE)$/.test(e.code)) return true;
  }
  return (
    typeof e.message === 'string' &&
    /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect/i.test(
      e.message,
    )
  );
}

/**
 * A statement PostgreSQL rolled back because of what ran beside it, which the same statement
 * again would most likely pass: a serialization failure (40001; among them a row the history
 * service moved to its partition, migration 000024, while the statement waited to lock it) or a
 * deadlock (40P01). Nothing of the statement was written.
 */
export function isConcurrentChange(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === '40001' || code === '40P01';
}
