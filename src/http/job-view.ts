import type { DownloadLinks } from '../auth/download-links.ts';
import { canReadStacks, type Identity } from '../auth/identity.ts';
import type { Job } from '../db/types.ts';

/** Turns a job row read as the caller into what that caller is shown. */
export type JobView = (job: Job) => Job;

/**
 * A job as `identity` is shown it on every HTTP surface (REST contracts, event streams, the OSINT
 * websocket), before each contract's serialiser shapes it:
 *
 * - `errors[].stack` is null unless the caller may read stack traces ({@link canReadStacks}); the
 *   message and the rest stay. GraphQL applies the same rule in SQL (`jobdeck.jobs_errors`).
 * - an export's `result.downloadUrl` becomes a signed link minted for this caller, which works
 *   without an Authorization header until it expires ({@link DownloadLinks}).
 */
export function viewJob(job: Job, identity: Identity, links: DownloadLinks | null): Job {
  let shown = job;
  if (!canReadStacks(identity) && job.errors.some((e) => e && e.stack != null))
    shown = { ...shown, errors: job.errors.map((e) => (e ? { ...e, stack: null } : e)) };
  if (links) {
    const result = links.signResult(job.result, job.id, identity);
    if (result !== job.result) shown = { ...shown, result };
  }
  return shown;
}

/** {@link viewJob} for one caller. */
export function jobViewFor(identity: Identity, links: DownloadLinks | null): JobView {
  return (job) => viewJob(job, identity, links);
}
