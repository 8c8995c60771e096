/**
 * What a job id looks like: a UUID, hyphenated, in either case. Checked before any SQL runs, so a
 * string that cannot name a job is "not found" (or a 400 on REST) rather than a cast error.
 */
export const JOB_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a syntactically valid job id; anything else cannot name a job. */
export function isJobId(id: unknown): id is string {
  return typeof id === 'string' && JOB_ID_PATTERN.test(id);
}
