import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../db/types.ts';
import type { Identity } from '../../auth/identity.ts';
import { JOB_ID_PATTERN } from '../../jobs/ids.ts';
import { HttpError } from './errors.ts';

/** Path parameters of the routes about one job. */
export const jobIdParams = z.object({
  id: z.string().regex(JOB_ID_PATTERN, 'must be a job id (a UUID)'),
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

/** Runs `fn` in the request's row-level-security transaction, as the signed-in caller (else 401). */
export type Scoped = <T>(
  request: FastifyRequest,
  fn: (db: Kysely<Database>) => Promise<T>,
) => Promise<T>;

/** A query-string parameter holding a whole number from `min` to `max`, named in its errors. */
export const wholeNumber = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, `${name} must be at least ${min}`)
        .max(max, `${name} must be at most ${max}`),
    );

/** 403 unless the caller is an organisation admin. */
export function requireAdmin(identity: Identity): void {
  if (identity.role !== 'admin')
    throw new HttpError(403, 'forbidden', 'this route is for organisation admins (role "admin")');
}

/** The `since` of the stats routes: a time JavaScript can read (the database checks the rest). */
export const sinceParam = z
  .string()
  .refine((v) => !Number.isNaN(Date.parse(v)), 'since must be an ISO time');
