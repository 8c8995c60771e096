import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Identity, Role } from './identity.ts';

/** Where exports are served; a `downloadUrl` of any other form is left as it is. */
export const EXPORTS_PATH = '/api/v1/exports/';
/** An export's file name as export_report writes it (no `/`, no `..`). */
export const EXPORT_FILE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$/;

/** The query parameters of a signed link, in the order they are written. */
export interface DownloadLinkParams {
  job: string;
  user: string;
  org: string;
  role: Role;
  /** Unix seconds after which the link is refused. */
  expires: number;
  /** base64url HMAC-SHA256 of everything above and the file. */
  sig: string;
}

/** Why a signed link was refused; the route answers 403 for `bad_signature`, 410 for `expired`. */
export type DownloadLinkProblem =
  { kind: 'bad_signature'; message: string } | { kind: 'expired'; message: string };

/** What a link that checks out grants: reading `job`'s export as this identity, nothing more. */
export interface DownloadLinkGrant {
  jobId: string;
  identity: Identity;
}

/** The label the link key is derived under: a key of its own, never the secret itself. */
const KEY_LABEL = 'jobdeck download links v1';

/** Whether `name` is a safe export file name. */
export function isExportFile(name: string): boolean {
  return EXPORT_FILE.test(name) && !name.includes('..');
}

/**
 * Signed, expiring URLs for an export's `downloadUrl`, so a browser can fetch it with a plain
 * `<a href>` (no Authorization header). A link names the job, the identity it was minted for
 * (user, organisation, role) and its expiry, all covered by an HMAC keyed with a key derived from
 * the server's secret; the route re-reads the job as that identity (row-level security), so a link
 * stops working when that identity can no longer see the job, as well as on expiry.
 */
export class DownloadLinks {
  readonly #key: Buffer;
  readonly ttlSeconds: number;

  /**
   * @param secret the server's secret (the JWT secret, or the database's secret for a jobdeck
   *   mounted with the application's own authentication); the key is derived from it.
   * @param ttlSeconds how long a minted link works (JOBDECK_DOWNLOAD_LINK_TTL_S).
   */
  constructor(secret: string | Uint8Array, ttlSeconds: number) {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0)
      throw new RangeError(`ttlSeconds must be a positive whole number, got ${ttlSeconds}`);
    this.#key = createHmac('sha256', secret).update(KEY_LABEL).digest();
    this.ttlSeconds = ttlSeconds;
  }

  /**
   * `url` with the signed query string for `identity` when it is an export's path
   * (`/api/v1/exports/<file>`, possibly with a prefix before it); any other value unchanged.
   */
  sign(url: unknown, jobId: string, identity: Identity, now = Date.now()): unknown {
    if (typeof url !== 'string') return url;
    const at = url.indexOf(EXPORTS_PATH);
    if (at < 0 || url.includes('?')) return url;
    const file = url.slice(at + EXPORTS_PATH.length);
    if (!isExportFile(file)) return url;
    const expires = Math.floor(now / 1000) + this.ttlSeconds;
    const unsigned = {
      job: jobId,
      user: identity.userId,
      org: identity.orgId,
      role: identity.role,
      expires,
    };
    const query = new URLSearchParams({
      ...unsigned,
      expires: String(expires),
      sig: this.#mac(file, unsigned),
    });
    return `${url}?${query.toString()}`;
  }

  /**
   * A job's `result` with its `downloadUrl` signed for `identity` (see {@link sign}); any other
   * result, and one without an export link, as it is.
   */
  signResult(result: unknown, jobId: string, identity: Identity, now = Date.now()): unknown {
    if (!result || typeof result !== 'object' || Array.isArray(result)) return result;
    const url = (result as Record<string, unknown>)['downloadUrl'];
    const signed = this.sign(url, jobId, identity, now);
    return signed === url ? result : { ...result, downloadUrl: signed };
  }

  /**
   * Checks a signed link's parameters for `file`: the signature first (a forged expiry is a bad
   * signature, not an expired link), then the expiry.
   */
  verify(
    file: string,
    params: DownloadLinkParams,
    now = Date.now(),
  ): DownloadLinkGrant | DownloadLinkProblem {
    const expected = Buffer.from(this.#mac(file, params), 'base64url');
    const given = Buffer.from(params.sig, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return {
        kind: 'bad_signature',
        message:
          'the download link is not valid: it was altered, or made for another file or by another server; reload the job for a new link',
      };
    if (params.expires * 1000 <= now)
      return {
        kind: 'expired',
        message: `the download link expired at ${new Date(params.expires * 1000).toISOString()}; reload the job for a new link`,
      };
    return {
      jobId: params.job,
      identity: {
        userId: params.user,
        orgId: params.org,
        role: params.role,
        // A link grants reading the job, nothing else.
        permissions: ['jobs.view_jobs'],
        expiresAt: new Date(params.expires * 1000),
      },
    };
  }

  #mac(file: string, p: Omit<DownloadLinkParams, 'sig'>): string {
    // JSON of an array: no choice of separators can make two different links sign alike.
    const message = JSON.stringify([file, p.job, p.user, p.org, p.role, p.expires]);
    return createHmac('sha256', this.#key).update(message).digest('base64url');
  }
}
