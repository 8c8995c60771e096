/**
 * Who a caller of the API is, and the database identity a request runs as: the role row-level
 * security switches to and the claims it reads. Shared by GraphQL, HTTP, the CLI and tokens.
 */

/** What a token may grant: seed 004's job permissions. */
export const PERMISSIONS = [
  'jobs.create_jobs',
  'jobs.view_jobs',
  'jobs.cancel_jobs',
  'jobs.retry_jobs',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** `user` sees and acts on their own jobs; `admin` on every job of their organisation. */
export type Role = 'user' | 'admin';

/**
 * Whether the caller may read the stack traces of job errors: organisation admins (`admin`), who
 * operate the jobs of their organisation. Users get each error's message, with `stack` null
 * (docs/security.md, "Stack traces"). Trusted callers (the TypeScript client, the CLI, SQL as the
 * owner or `jobdeck_system`) read errors as stored; in SQL `jobdeck.jobs_errors` decides the same.
 */
export function canReadStacks(identity: Pick<Identity, 'role'> | null): boolean {
  return identity?.role === 'admin';
}

/** The verified caller of an API request. */
export interface Identity {
  userId: string;
  orgId: string;
  role: Role;
  /** Narrows the role's permissions when the token lists them; null = all four. */
  permissions: readonly Permission[] | null;
  expiresAt: Date;
  /**
   * Set for a token scoped to one job or batch (`signScopedToken`): the caller may then use only
   * that job's or batch's REST routes and event stream. Absent for every other caller.
   */
  scope?: TokenScope;
}

/** The one job or batch a scoped token is for. */
export interface TokenScope {
  kind: 'job' | 'batch';
  /** The job's or batch's id, lower-case. */
  id: string;
}

/** The request roles the API switches to (migrations/000004_api.sql). */
export function databaseRole(identity: Identity | null): string {
  if (!identity) return 'jobdeck_anonymous';
  return identity.role === 'admin' ? 'jobdeck_admin' : 'jobdeck_user';
}

/** Settings for the request's transaction: the role and the claims row-level security reads. */
export function pgSettingsFor(identity: Identity | null): Record<string, string> {
  if (!identity) return { role: databaseRole(null) };
  return {
    role: databaseRole(identity),
    'jwt.claims.sub': identity.userId,
    'jwt.claims.org': identity.orgId,
    'jwt.claims.role': identity.role,
    // '*': the role's permissions, unnarrowed; otherwise exactly the listed ones (none if empty)
    'jwt.claims.permissions': identity.permissions ? identity.permissions.join(',') : '*',
  };
}
