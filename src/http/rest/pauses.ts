import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../db/types.ts';
import type { Identity } from '../../auth/identity.ts';
import { operatorName, requireOperator } from '../../auth/operators.ts';
import {
  MAX_PAUSE_KEY_LENGTH,
  MAX_PAUSE_REASON_LENGTH,
  listPausesOn,
  pauseOn,
  resumeOn,
  type PauseTarget,
} from '../../jobs/pauses.ts';
import { parse, requireIdentity } from './requests.ts';

export interface PauseRouteOptions {
  /** The verified caller (null: no token). */
  identityOf(request: FastifyRequest): Identity | null;
  /** Organisations whose admins may pause (JOBDECK_OPERATOR_ORGS). */
  operatorOrgs: readonly string[];
  /** The owner's connection: a pause is global, so it is written past row-level security. */
  ownerDb: Kysely<Database>;
}

const name = (field: string) =>
  z
    .string()
    .min(1, `${field} must not be empty`)
    .max(MAX_PAUSE_KEY_LENGTH, `${field} must be at most ${MAX_PAUSE_KEY_LENGTH} characters`);

const queueParams = z.object({ queue: name('queue') });
const typeParams = z.object({ type: name('type') });

/** The body of a pause: all optional. */
export const PauseBody = z
  .object({
    reason: z
      .string()
      .min(1, 'reason must not be empty')
      .max(MAX_PAUSE_REASON_LENGTH, `reason must be at most ${MAX_PAUSE_REASON_LENGTH} characters`)
      .nullish(),
    cancelRunning: z.boolean('cancelRunning must be true or false').optional(),
  })
  .strict()
  .meta({ id: 'PauseBody', description: 'Optional: why, and whether running jobs are cancelled' });

const pauseFields = {
  scope: z.enum(['queue', 'type', 'all']),
  key: z.string().nullable().describe('the queue or task type; null for everything'),
  reason: z.string().nullable(),
  pausedBy: z.string().nullable(),
  pausedAt: z.iso.datetime({ offset: true }),
};
/** A pause as listed, with the jobs it holds. */
export const PauseListing = z
  .object({ ...pauseFields, held: z.number().int() })
  .meta({ id: 'Pause' });
/** `GET /api/v2/admin/pauses`. */
export const PauseList = z.object({ pauses: z.array(PauseListing) }).meta({ id: 'PauseList' });
/** What a pause did. */
export const PauseResultSchema = z
  .object({
    ...pauseFields,
    held: z.number().int().describe('waiting jobs held now'),
    cancelled: z.number().int().describe('running jobs asked to cancel (cancelRunning)'),
  })
  .meta({ id: 'PauseResult' });
/** What a resume did. */
export const ResumeResultSchema = z
  .object({
    scope: z.enum(['queue', 'type', 'all']),
    key: z.string().nullable(),
    resumed: z.boolean().describe('whether it was paused'),
    released: z.number().int().describe('held jobs queued again'),
  })
  .meta({ id: 'ResumeResult' });

/**
 * Admin routes that pause and resume work on every worker (docs/rest.md, "Pausing"):
 * `GET /api/v2/admin/pauses`; `POST /api/v2/admin/queues/:queue/pause|resume`,
 * `/api/v2/admin/types/:type/pause|resume`, `/api/v2/admin/pause|resume` (everything). For
 * operators only ({@link requireOperator}): a pause holds every tenant's jobs.
 */
export function registerPauseRoutes(app: FastifyInstance, options: PauseRouteOptions): void {
  const operator = (request: FastifyRequest) =>
    requireOperator(requireIdentity(options.identityOf(request)), options.operatorOrgs);

  const pause =
    (targetOf: (request: FastifyRequest) => PauseTarget) => async (request: FastifyRequest) => {
      const identity = operator(request);
      const target = targetOf(request);
      const body = parse(PauseBody, request.body, 'body');
      return pauseOn(options.ownerDb, target, {
        reason: body.reason ?? null,
        cancelRunning: body.cancelRunning ?? false,
        by: operatorName(identity),
      });
    };
  const resume =
    (targetOf: (request: FastifyRequest) => PauseTarget) => async (request: FastifyRequest) => {
      operator(request);
      return resumeOn(options.ownerDb, targetOf(request));
    };
  const queueOf = (request: FastifyRequest): PauseTarget => ({
    queue: parse(queueParams, request.params, 'path').queue,
  });
  const typeOf = (request: FastifyRequest): PauseTarget => ({
    type: parse(typeParams, request.params, 'path').type,
  });
  const all = (): PauseTarget => 'all';

  app.get('/api/v2/admin/pauses', async (request) => {
    operator(request);
    return { pauses: await listPausesOn(options.ownerDb) };
  });
  app.post('/api/v2/admin/queues/:queue/pause', pause(queueOf));
  app.post('/api/v2/admin/queues/:queue/resume', resume(queueOf));
  app.post('/api/v2/admin/types/:type/pause', pause(typeOf));
  app.post('/api/v2/admin/types/:type/resume', resume(typeOf));
  app.post('/api/v2/admin/pause', pause(all));
  app.post('/api/v2/admin/resume', resume(all));
}
