import { SignJWT, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import { z } from 'zod';
import { UnauthorizedError } from '../errors.ts';
import {
  PERMISSIONS,
  type Identity,
  type Permission,
  type Role,
  type TokenScope,
} from './identity.ts';

/** The claim naming the one job or batch a scoped token is for. */
export const SCOPE_CLAIM = 'jobdeck_scope';

// Ids are compared and hashed as text: control characters have no business in them.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const PRINTABLE = /^[^\u0000-\u001f\u007f]+$/;
/** Tokens may not live longer than this (an `exp` of 1e30 is not an expiry). */
const MAX_TOKEN_LIFETIME_S = 400 * 24 * 3600;

const claimsSchema = z.object({
  sub: z
    .string()
    .min(1, 'sub must not be empty')
    .max(200, 'sub is longer than 200 characters')
    .regex(PRINTABLE, 'sub must not contain control characters'),
  org: z
    .string()
    .min(1, 'org must not be empty')
    .max(200, 'org is longer than 200 characters')
    .regex(PRINTABLE, 'org must not contain control characters'),
  role: z.enum(['user', 'admin'], 'role must be "user" or "admin"').default('user'),
  permissions: z.array(z.enum(PERMISSIONS)).optional(),
  exp: z.number(),
  /** A token for one job or batch only (src/auth/scoped-tokens.ts). */
  [SCOPE_CLAIM]: z
    .object({
      kind: z.enum(['job', 'batch'], 'scope kind must be "job" or "batch"'),
      id: z.uuid('scope id must be a UUID').transform((id) => id.toLowerCase()),
    })
    .strict()
    .optional(),
});

const ALGORITHM = 'HS256';

/** Turns a secret string into the key jose signs and verifies with. */
export function secretKey(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

/** Signs a token for a user; used by `jobdeck token`, tests and the dashboard's dev sign-in. */
export async function signToken(
  claims: {
    userId: string;
    orgId: string;
    role?: Role;
    permissions?: readonly Permission[];
    ttlSeconds?: number;
    /** Limits the token to one job's or batch's routes (see `signScopedToken`). */
    scope?: TokenScope;
  },
  secret: string,
): Promise<string> {
  const body: Record<string, unknown> = { org: claims.orgId, role: claims.role ?? 'user' };
  if (claims.permissions) body['permissions'] = [...claims.permissions];
  if (claims.scope) body[SCOPE_CLAIM] = { kind: claims.scope.kind, id: claims.scope.id };
  const parsed = claimsSchema.safeParse({ ...body, sub: claims.userId, exp: 0 });
  if (!parsed.success) throw new UnauthorizedError(describeIssues(parsed.error));
  const ttl = claims.ttlSeconds ?? 3600;
  if (!Number.isInteger(ttl) || ttl <= 0 || ttl > MAX_TOKEN_LIFETIME_S)
    throw new RangeError(`ttl must be 1 s to 400 days in whole seconds, got ${ttl}`);
  return new SignJWT(body)
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(claims.userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttl)
    .sign(secretKey(secret));
}

/**
 * Verifies a token and returns who it names.
 *
 * A token scoped to one job or batch (`signScopedToken`) is refused unless `allowScoped` is set:
 * only the REST routes, which check the scope against the route (src/http/caller.ts), take one.
 *
 * @throws UnauthorizedError with a message saying what is wrong: malformed, `alg` other than
 *   HS256 (`none` included), bad signature, expired, a claim missing or invalid, or scoped where
 *   scoped tokens are not accepted.
 */
export async function verifyToken(
  token: string,
  secret: string,
  options: { allowScoped?: boolean } = {},
): Promise<Identity> {
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw new UnauthorizedError(
      'the bearer token is not a JWT (expected header.payload.signature)',
    );
  }
  if (alg !== ALGORITHM)
    throw new UnauthorizedError(
      `tokens signed with alg ${JSON.stringify(alg ?? null)} are refused; jobdeck accepts ${ALGORITHM} only`,
    );
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, secretKey(secret), {
      algorithms: [ALGORITHM],
      requiredClaims: ['exp'],
    }));
  } catch (error) {
    throw new UnauthorizedError(describeJoseError(error), { cause: error });
  }
  const parsed = claimsSchema.safeParse(payload);
  if (!parsed.success) throw new UnauthorizedError(describeIssues(parsed.error));
  const claims = parsed.data;
  if (claims.exp > Date.now() / 1000 + MAX_TOKEN_LIFETIME_S)
    throw new UnauthorizedError(
      'the bearer token expires more than 400 days from now; issue tokens that expire sooner',
    );
  const scope = claims[SCOPE_CLAIM];
  if (scope && !options.allowScoped)
    throw new UnauthorizedError(
      `this token is scoped to ${scope.kind} ${scope.id}: it works only on that ${scope.kind}'s REST routes and event stream, not here`,
    );
  return {
    userId: claims.sub,
    orgId: claims.org,
    role: claims.role,
    permissions: claims.permissions ?? null,
    expiresAt: new Date(claims.exp * 1000),
    ...(scope ? { scope } : {}),
  };
}

function describeIssues(error: z.ZodError): string {
  const problems = error.issues.map((issue) =>
    issue.code === 'invalid_type' && issue.input === undefined
      ? `the claim "${issue.path.join('.')}" is missing`
      : `${issue.path.join('.') || 'claims'}: ${issue.message}`,
  );
  return `the bearer token's claims are invalid: ${problems.join('; ')}`;
}

function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired)
    return `the bearer token expired at ${new Date(Number(error.payload.exp) * 1000).toISOString()}; get a new one`;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed)
    return 'the bearer token signature does not match: it was signed with another secret or altered';
  if (error instanceof joseErrors.JWTClaimValidationFailed)
    return error.claim === 'exp'
      ? 'the bearer token has no "exp" claim; tokens must expire'
      : `the bearer token's "${error.claim}" claim is invalid: ${error.message}`;
  if (error instanceof joseErrors.JOSEError)
    return `the bearer token is malformed: ${error.message}`;
  return 'the bearer token could not be verified';
}

/**
 * The token in an `Authorization` value: `Bearer <token>`. Undefined/empty means anonymous.
 *
 * @throws UnauthorizedError for any other scheme or an empty token.
 */
export function bearerToken(header: unknown): string | null {
  if (header === undefined || header === null || header === '') return null;
  if (typeof header !== 'string')
    throw new UnauthorizedError('authorization must be a string like "Bearer <token>"');
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header.trim());
  if (!match)
    throw new UnauthorizedError(
      'the Authorization header must be "Bearer <token>" (other schemes are not accepted)',
    );
  return match[1]!;
}
