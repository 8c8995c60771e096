import { createHash } from 'node:crypto';
import { queryRows, type Executor } from '../db/executor.ts';
import { isJobId } from '../jobs/ids.ts';

/** The kinds of channel jobdeck NOTIFYs on (see sql/events/notify_jobs.sql). */
export type ChannelKind = 'job' | 'owner' | 'org' | 'cancel' | 'batch';

/** Hex digits of the keyed hash a channel name ends in: 192 bits, and names stay within 63 bytes. */
const HASH_HEX_DIGITS = 48;

/** Where the secret lives (migration 000010); only the owner's role can read it. */
const READ_SECRET = 'select secret from jobdeck_private.notify_secret';

/**
 * The NOTIFY channels of one database. PostgreSQL lets any role LISTEN on or NOTIFY any channel it
 * can name, so every name ends in a keyed hash of the database's secret (migration 000010):
 * `jobdeck:<kind>:` + the first 48 hex digits of sha256(secret ‖ "<kind>:<key>"). Mirrors
 * `jobdeck_private.notify_jobs()` in SQL, which sends `{"id": …}` on them.
 */
export class JobChannels {
  readonly #secret: Buffer;

  constructor(secret: Uint8Array) {
    if (secret.length < 16) throw new Error('the NOTIFY secret must be at least 16 bytes');
    this.#secret = Buffer.from(secret);
  }

  /** Changes of one job. */
  job(id: string): string {
    return this.#name('job', id.toLowerCase());
  }

  /** Changes of the jobs one user owns in one organisation. */
  owner(orgId: string, ownerId: string): string {
    // The organisation's length in bytes first, so that no (org, owner) pair spells another's key.
    return this.#name('owner', `${Buffer.byteLength(orgId, 'utf8')}:${orgId}:${ownerId}`);
  }

  /** Changes of every job of one organisation. */
  org(orgId: string): string {
    return this.#name('org', orgId);
  }

  /** Changes of one batch's counters (sql/batches/notify_batches.sql). */
  batch(id: string): string {
    return this.#name('batch', id.toLowerCase());
  }

  /** Where workers hear of cancel requests (hints: they re-read the job before aborting it). */
  get cancel(): string {
    return this.#name('cancel', '');
  }

  #name(kind: ChannelKind, key: string): string {
    const hash = createHash('sha256').update(this.#secret).update(`${kind}:${key}`, 'utf8');
    return `jobdeck:${kind}:${hash.digest('hex').slice(0, HASH_HEX_DIGITS)}`;
  }
}

/**
 * Reads the database's secret (migration 000010): the key of the NOTIFY channels' names, and the
 * root of keys derived from it for other purposes (download links of a jobdeck mounted with the
 * application's authentication). Needs the rights of jobdeck's owner (the role that migrated): run
 * it once at start on the process's main pool, not per request.
 */
export async function loadDatabaseSecret(executor: Executor): Promise<Buffer> {
  let rows: { secret: Buffer }[];
  try {
    rows = await queryRows<{ secret: Buffer }>(executor, READ_SECRET, []);
  } catch (error) {
    throw new Error(
      `cannot read jobdeck's NOTIFY secret (${(error as Error).message}): live updates and cancels ` +
        'need a connection as the role that ran jobdeck migrate',
      { cause: error },
    );
  }
  const secret = rows[0]?.secret;
  if (!secret) throw new Error("jobdeck's NOTIFY secret is missing: run jobdeck migrate");
  return secret;
}

/**
 * Reads the database's NOTIFY secret and returns its channels. Needs the rights of jobdeck's
 * owner (the role that migrated): run it once at start on the process's main pool, not per request.
 */
export async function loadJobChannels(executor: Executor): Promise<JobChannels> {
  return new JobChannels(await loadDatabaseSecret(executor));
}

/** What a job notification carries: the job's id, nothing else. Listeners re-read the row. */
export interface JobNotification {
  id: string;
}

/**
 * The job id a notification names, lower-case; null for anything else. Notifications are hints:
 * whatever else a payload holds (anyone who learns a channel's name can NOTIFY on it) is ignored.
 */
export function parseJobNotification(payload: string | undefined): JobNotification | null {
  if (!payload) return null;
  try {
    const value = JSON.parse(payload) as { id?: unknown } | null;
    return isJobId(value?.id) ? { id: value.id.toLowerCase() } : null;
  } catch {
    return null;
  }
}
