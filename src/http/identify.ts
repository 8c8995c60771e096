import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { PERMISSIONS, type Identity, type Permission, type Role } from '../auth/identity.ts';
import { UnauthorizedError } from '../errors.ts';

/**
 * Who an application says is calling, in jobdeck's terms: what an {@link IdentifyRequest} callback
 * returns. Row-level security then applies exactly as for a bearer token with these claims.
 */
export interface CallerIdentity {
  /** The user (a token's `sub`): jobs they enqueue are theirs. */
  userId: string;
  /** Their organisation (a token's `org`). */
  orgId: string;
  /** `user` sees and acts on their own jobs; `admin` on every job of the organisation. */
  role: Role;
  /** Narrows the role's permissions to these; omitted or null = all of the role's. */
  permissions?: readonly Permission[] | null;
  /**
   * When the application's session ends: live streams (GraphQL subscriptions, event streams)
   * opened with this identity end then, and their clients reconnect and are identified again.
   * Omitted = they last as long as the connection.
   */
  expiresAt?: Date | null;
}

/**
 * Maps an application's own request (its session cookie, its own authentication) to the caller
 * jobdeck should act for; null or undefined = anonymous (what a request without a token is).
 * Called once per HTTP request and once per websocket connection (with the upgrade request, which
 * carries the page's cookies). `request.raw` is the Node request the application's own middleware
 * saw (with `createJobdeckHandler`, the very object Express or Koa decorated).
 *
 * Throwing refuses the request with 401 and the error's message as the reason, so throw messages
 * meant for the person calling.
 */
export type IdentifyRequest = (
  request: FastifyRequest,
) => CallerIdentity | null | undefined | Promise<CallerIdentity | null | undefined>;

// Ids are compared and hashed as text: control characters have no business in them.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const PRINTABLE = /^[^\u0000-\u001f\u007f]+$/;
const id = (name: string) =>
  z
    .string(`${name} must be a string`)
    .min(1, `${name} must not be empty`)
    .max(200, `${name} is longer than 200 characters`)
    .regex(PRINTABLE, `${name} must not contain control characters`);

const callerSchema = z.object({
  userId: id('userId'),
  orgId: id('orgId'),
  role: z.enum(['user', 'admin'], 'role must be "user" or "admin"'),
  permissions: z.array(z.enum(PERMISSIONS)).nullish(),
  expiresAt: z.date('expiresAt must be a Date').nullish(),
});

/** The latest time a Date can hold: "never" for sessions without an end. */
const NEVER = new Date(8.64e15);

/**
 * Runs the application's `identify` for a request and checks what it returned.
 *
 * @throws UnauthorizedError when `identify` throws (with its message) or returns something that is
 *   not a valid identity (naming what is wrong).
 */
export async function identifyCaller(
  identify: IdentifyRequest,
  request: FastifyRequest,
): Promise<Identity | null> {
  let returned: unknown;
  try {
    returned = await identify(request);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new UnauthorizedError(
      `not signed in: ${reason || 'the application refused the request'}`,
      {
        cause: error,
      },
    );
  }
  if (returned === null || returned === undefined) return null;
  const parsed = callerSchema.safeParse(returned);
  if (!parsed.success)
    throw new UnauthorizedError(
      `the application's identity for this request is invalid: ${parsed.error.issues
        .map((issue) => issue.message)
        .join('; ')}`,
    );
  const caller = parsed.data;
  return {
    userId: caller.userId,
    orgId: caller.orgId,
    role: caller.role,
    permissions: caller.permissions ?? null,
    expiresAt: caller.expiresAt ?? NEVER,
  };
}
