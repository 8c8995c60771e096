import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SignJWT, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { ConfigError, UnauthorizedError } from '../errors.ts';

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

/** The verified caller of an API request. */
export interface Identity {
  userId: string;
  orgId: string;
  role: Role;
  /** Narrows the role's permissions when the token lists them; null = all four. */
  permissions: readonly Permission[] | null;
  expiresAt: Date;
}

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
  },
  secret: string,
): Promise<string> {
  const body: Record<string, unknown> = { org: claims.orgId, role: claims.role ?? 'user' };
  if (claims.permissions) body['permissions'] = [...claims.permissions];
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
 * @throws UnauthorizedError with a message saying what is wrong: malformed, `alg` other than
 *   HS256 (`none` included), bad signature, expired, or a claim missing or invalid.
 */
export async function verifyToken(token: string, secret: string): Promise<Identity> {
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
  return {
    userId: claims.sub,
    orgId: claims.org,
    role: claims.role,
    permissions: claims.permissions ?? null,
    expiresAt: new Date(claims.exp * 1000),
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

/**
 * The secret tokens are signed with: JOBDECK_JWT_SECRET, or outside production one generated once
 * and kept in `<dataDir>/jwt-secret` (mode 0600) so tokens survive restarts.
 */
export function loadJwtSecret(config: Config): Promise<string> {
  return loadSecret(config, config.jwtSecret, 'JOBDECK_JWT_SECRET', 'jwt-secret');
}

/**
 * The secret webhook bodies are signed with: JOBDECK_WEBHOOK_SECRET, or outside production one
 * generated once and kept in `<dataDir>/webhook-secret`.
 */
export function loadWebhookSecret(config: Config): Promise<string> {
  return loadSecret(config, config.webhookSecret, 'JOBDECK_WEBHOOK_SECRET', 'webhook-secret');
}

/**
 * A configured secret, or outside production one generated once into `<dataDir>/<file>` (mode
 * 0600) and shared by every process using that folder.
 */
export async function loadSecret(
  config: Config,
  configured: string | undefined,
  variable: string,
  file: string,
): Promise<string> {
  if (configured) return configured;
  if (config.production)
    throw new ConfigError([
      `${variable}: required when NODE_ENV=production (32+ random characters)`,
    ]);
  const where = path.join(config.dataDir, file);
  try {
    const stored = (await readFile(where, 'utf8')).trim();
    if (stored.length >= 32) return stored;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(config.dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  try {
    await writeFile(where, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  } catch (error) {
    // Another process wrote it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      return (await readFile(where, 'utf8')).trim();
    throw error;
  }
}
