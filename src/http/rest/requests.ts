import { z } from 'zod';
import type { Identity } from '../../auth/identity.ts';
import { HttpError } from './errors.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Path parameters of the routes about one job. */
export const jobIdParams = z.object({
  id: z.string().regex(UUID, 'must be a job id (a UUID)'),
});

/** Parses with zod, turning failures into a 400 that names each bad field. */
export function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (issue) => `${issue.path.length > 0 ? issue.path.join('.') : what}: ${issue.message}`,
  );
  throw new HttpError(400, 'invalid_request', `invalid ${what}: ${problems.join('; ')}`);
}

/** The caller, or 401: every REST route and event stream needs a signed-in user. */
export function requireIdentity(identity: Identity | null): Identity {
  if (!identity)
    throw new HttpError(401, 'unauthorized', 'sign in: send Authorization: Bearer <token>');
  return identity;
}
