import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  enqueueFromTemplateAsCaller,
  listTemplatesAsCaller,
  TEMPLATE_NAME_PATTERN,
} from '../../jobs/templates.ts';
import { JOB_STATUSES } from '../../jobs/states.ts';
import { parse, type Scoped } from './requests.ts';
import { json, time } from './schemas.ts';

const templateParams = z.object({
  name: z
    .string()
    .regex(
      TEMPLATE_NAME_PATTERN,
      'name must be 1 to 128 letters, digits, _ . : or - (starting with a letter or digit)',
    ),
});

/** The body of `POST /api/v2/templates/:name/jobs`: all optional. */
export const TemplateJobBody = z
  .object({
    payload: z
      .record(z.string(), z.unknown(), 'payload must be a JSON object')
      .optional()
      .describe("merged over the template's payload defaults (objects key by key)"),
    priority: z
      .number('priority must be a number')
      .int('priority must be a whole number')
      .min(-20, 'priority must be from -20 (urgent) to 10 (low)')
      .max(10, 'priority must be from -20 (urgent) to 10 (low)')
      .optional()
      .describe("default: the template's"),
    maxAttempts: z
      .number('maxAttempts must be a number')
      .int('maxAttempts must be a whole number')
      .min(1, 'maxAttempts must be from 1 to 25')
      .max(25, 'maxAttempts must be from 1 to 25')
      .optional()
      .describe("default: the template's, else the task's"),
    key: z
      .string('key must be a string')
      .min(1, 'key must be 1 to 400 characters')
      .max(400, 'key must be 1 to 400 characters')
      .optional()
      .describe('dedupe key, within your own jobs'),
  })
  .strict()
  .meta({ id: 'TemplateJobBody', description: 'Optional: payload and overrides' });

/** A template as API callers see it (no webhook URL or e-mail addresses). */
export const TemplateView = z
  .object({
    name: z.string(),
    type: z.string(),
    description: z.string().nullable(),
    payloadDefaults: z.record(z.string(), z.unknown()),
    priority: z.number().int().nullable(),
    queue: z.string().nullable(),
    maxAttempts: z.number().int().nullable(),
    notifyOn: z.array(z.enum(['succeeded', 'failed'])).nullable(),
    orgId: z.string().nullable().describe('null: a template of every organisation'),
    createdAt: time,
    updatedAt: time,
  })
  .meta({ id: 'Template' });
/** `GET /api/v2/templates`. */
export const TemplateList = z
  .object({ templates: z.array(TemplateView) })
  .meta({ id: 'TemplateList' });
/** What `POST /api/v2/templates/:name/jobs` made. */
export const TemplateJobCreated = z
  .object({
    jobId: z.string(),
    template: z.string(),
    type: z.string(),
    status: z.enum(JOB_STATUSES),
    priority: z.number().int(),
    queue: z.string().nullable(),
    payload: json,
  })
  .meta({ id: 'TemplateJobCreated' });

/**
 * Job templates (issue 21): `GET /api/v2/templates` lists the templates the caller may use (the
 * global ones and their organisation's, row-level security decides); `POST
 * /api/v2/templates/:name/jobs` enqueues from one as the caller, with the same checks as any API
 * enqueue. Templates are written by trusted callers only (TypeScript, SQL, CLI).
 */
export function registerTemplateRoutes(app: FastifyInstance, options: { scoped: Scoped }): void {
  app.get('/api/v2/templates', async (request) => ({
    templates: await options.scoped(request, (db) => listTemplatesAsCaller(db)),
  }));
  app.post('/api/v2/templates/:name/jobs', async (request, reply) => {
    const { name } = parse(templateParams, request.params, 'path');
    const body = parse(TemplateJobBody, request.body ?? {}, 'body');
    const job = await options.scoped(request, (db) =>
      enqueueFromTemplateAsCaller(db, name, body.payload ?? {}, {
        priority: body.priority,
        maxAttempts: body.maxAttempts,
        key: body.key,
      }),
    );
    return reply.code(201).send({
      jobId: job.id,
      template: name,
      type: job.type,
      status: job.status,
      priority: job.priority,
      queue: job.queue,
      payload: job.payload,
    });
  });
}
