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
