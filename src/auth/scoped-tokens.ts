import { JOB_ID_PATTERN } from '../jobs/ids.ts';
import type { Identity, Permission, Role, TokenScope } from './identity.ts';
import { signToken } from './tokens.ts';

/** A scoped token's default lifetime: long enough for an upload's page, short if it leaks. */
const DEFAULT_TTL_S = 15 * 60;
/** Scoped tokens are for one page visit: a day at most. */
const MAX_TTL_S = 24 * 3600;

/** What {@link signScopedToken} needs: whose job or batch, which one, and what it may do. */
export type ScopedTokenOptions = {
  /** The job's or batch's owner (its `owner_id`): the token reads it as them. */
  userId: string;
  /** The owner's organisation (its `org_id`). */
  orgId: string;
  /** `user` (default) reads the owner's own job; `admin` any job of the organisation. */
  role?: Role;
  /** Seconds the token works (default 900, at most 86,400). */
  ttlSeconds?: number;
  /** Whether the token may also cancel the job or batch (default false: read only). */
  allowCancel?: boolean;
} & ({ jobId: string; batchId?: never } | { batchId: string; jobId?: never });

/**
 * Mints a short-lived bearer token for one job (or one batch), for a browser that should see only
 * that one: a page following an upload's progress, say, which gets no token for the rest of the
 * user's jobs. The token reads the job as `userId`/`orgId` (row-level security still applies), and
 * the server takes it only on that job's routes: `GET /v1/jobs/:id/status`,
 * `GET /v1/jobs/:id/events` and, with `allowCancel`, `POST /v1/jobs/:id/cancel` (for a batch:
 * `GET /api/v2/batches/:id`, `…/events`, and `POST …/cancel`). Anywhere else, another job's routes,
 * GraphQL or websockets included, it is refused with 403 (401 once it expired).
 *
 * @param secret the server's JWT secret (`JOBDECK_JWT_SECRET`, `loadJwtSecret()`).
 * @throws RangeError for a ttl outside 1 s to 24 h or an id that is not a UUID.
 */
export async function signScopedToken(
  secret: string,
  options: ScopedTokenOptions,
): Promise<string> {
  const scope: TokenScope =
    options.jobId !== undefined
      ? { kind: 'job', id: options.jobId }
      : { kind: 'batch', id: options.batchId };
  if (typeof scope.id !== 'string' || !JOB_ID_PATTERN.test(scope.id))
    throw new RangeError(`${scope.kind}Id must be a UUID, got ${JSON.stringify(scope.id)}`);
  const ttl = options.ttlSeconds ?? DEFAULT_TTL_S;
  if (!Number.isInteger(ttl) || ttl <= 0 || ttl > MAX_TTL_S)
    throw new RangeError(`a scoped token's ttl must be 1 s to 24 h in whole seconds, got ${ttl}`);
  const permissions: Permission[] = ['jobs.view_jobs'];
  if (options.allowCancel) permissions.push('jobs.cancel_jobs');
  return signToken(
    {
      userId: options.userId,
      orgId: options.orgId,
      role: options.role ?? 'user',
      permissions,
      ttlSeconds: ttl,
      scope: { kind: scope.kind, id: scope.id.toLowerCase() },
    },
    secret,
  );
}

/** The routes (below jobdeck's prefix) a scoped token may call, with the parameter naming its target. */
const SCOPED_ROUTES: Readonly<Record<TokenScope['kind'], ReadonlySet<string>>> = {
  job: new Set(['/v1/jobs/:id/status', '/v1/jobs/:id/events', '/v1/jobs/:id/cancel']),
  batch: new Set([
    '/api/v2/batches/:id',
    '/api/v2/batches/:id/events',
    '/api/v2/batches/:id/cancel',
  ]),
};

/**
 * Why a scoped caller may not call `route` with these path parameters, or null when it may: the
 * route must be one of its job's (or batch's) routes and `:id` its job (or batch). Cancelling
 * needs the token's `jobs.cancel_jobs` permission too, which the database checks.
 */
export function scopeRefusal(
  identity: Pick<Identity, 'scope'>,
  route: string,
  params: unknown,
): string | null {
  const scope = identity.scope;
  if (!scope) return null;
  const id = (params as Record<string, unknown> | undefined)?.['id'];
  if (
    SCOPED_ROUTES[scope.kind].has(route) &&
    typeof id === 'string' &&
    id.toLowerCase() === scope.id
  )
    return null;
  return `this token is scoped to ${scope.kind} ${scope.id}: it may use only that ${scope.kind}'s status, event stream and cancel routes`;
}
