import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { queryParam, uuidPathParam } from './openapi-params.ts';
import { OSINT_OPERATIONS } from './rest/osint-schemas.ts';
import { CreateJobBody } from './rest/schemas.ts';
import { JOB_STATUSES } from '../jobs/states.ts';
import { NOVUS_STATUSES } from './rest/novus-contract.ts';

type Responses = Record<number, string>;
/** One route's description (src/http/rest/osint-schemas.ts adds seed 003's). */
export interface Operation {
  summary: string;
  tags: string[];
  parameters?: unknown[];
  body?: string;
  responses: Responses;
  admin?: boolean;
}

const idParam = uuidPathParam('id');
const query = queryParam;
const LIST_PARAMS = [
  query('page', { type: 'integer', minimum: 1, default: 1 }, 'page number, from 1'),
  query('pageSize', { type: 'integer', minimum: 1, maximum: 100, default: 25 }, 'jobs per page'),
  query('status', { type: 'string', enum: [...JOB_STATUSES] }, 'only jobs in this state'),
  query('jobType', { type: 'string' }, 'only jobs of this type'),
];
const STATS_PARAMS = [
  query('since', { type: 'string', format: 'date-time' }, 'window start (default 24 h ago)'),
  query('type', { type: 'string' }, 'only this job type'),
];
const NOVUS_LIST_PARAMS = [
  query('page', { type: 'integer', minimum: 1, default: 1 }, 'page number, from 1'),
  query('page_size', { type: 'integer', minimum: 1, maximum: 100, default: 25 }, 'jobs per page'),
  query('limit', { type: 'integer', minimum: 1, maximum: 100 }, 'jobs per page (with offset)'),
  query('offset', { type: 'integer', minimum: 0 }, 'jobs to skip (with limit)'),
  query('status', { type: 'string', enum: [...NOVUS_STATUSES] }, 'only jobs in this state'),
  query('job_type', { type: 'string' }, 'only jobs of this type'),
];
const SSE = 'SSE';
const FILE = 'FILE';

/** Every REST route, with the component each status answers with (SSE: an event stream). */
export const OPERATIONS: Record<string, Record<string, Operation>> = {
  '/api/v2/jobs/active': {
    get: {
      summary: "The caller's jobs of the last hour (seeds 000/001 widget)",
      tags: ['widget'],
      responses: { 200: 'WidgetJob[]', 401: 'Error' },
    },
  },
  '/v1/jobs': {
    post: {
      summary: 'Create a job (seed 004)',
      tags: ['c4'],
      body: 'CreateJob',
      responses: { 201: 'C4Created', 400: 'Error', 401: 'Error', 403: 'Error', 413: 'Error' },
    },
    get: {
      summary: "List the caller's jobs, newest first (seed 004)",
      tags: ['c4'],
      parameters: LIST_PARAMS,
      responses: { 200: 'C4List', 400: 'Error', 401: 'Error' },
    },
  },
  '/v1/jobs/{id}/status': {
    get: {
      summary: "A job's status, progress and what may be done with it (seed 004)",
      tags: ['c4'],
      parameters: [idParam],
      responses: { 200: 'C4Status', 400: 'Error', 401: 'Error', 404: 'Error' },
    },
  },
  '/v1/jobs/{id}/cancel': {
    post: {
      summary: 'Cancel a queued, running or retrying job (seed 004)',
      tags: ['c4'],
      parameters: [idParam],
      responses: { 200: 'Message', 401: 'Error', 404: 'Error', 409: 'Error' },
    },
  },
  '/v1/jobs/{id}/retry': {
    post: {
      summary: 'Retry a failed job with retries left (seed 004)',
      tags: ['c4'],
      parameters: [idParam],
      responses: { 200: 'Message', 401: 'Error', 404: 'Error', 409: 'Error' },
    },
  },
  '/v1/jobs/{id}/events': {
    get: {
      summary: 'Server-sent events: `job` (a C4Status) on each change, then `end`',
      tags: ['live'],
      parameters: [idParam],
      responses: { 200: SSE, 401: 'Error', 404: 'Error' },
    },
  },
  '/v1/jobs/events': {
    get: {
      summary: "Server-sent events: `job` (a C4Status) on each change of the caller's jobs",
      tags: ['live'],
      responses: { 200: SSE, 401: 'Error' },
    },
  },
  '/api/v1/jobs/{id}': {
    get: {
      summary: 'A job in Novus terms (seed 002)',
      tags: ['novus'],
      parameters: [idParam],
      responses: { 200: 'NovusJob', 400: 'Error', 401: 'Error', 404: 'Error' },
    },
  },
  ...OSINT_OPERATIONS,
  '/api/v1/exports/{file}': {
    get: {
      summary:
        "An export's file (the `downloadUrl` of export_report's result), for those who may see the job",
      tags: ['c4'],
      parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string' } }],
      responses: { 200: FILE, 401: 'Error', 404: 'Error' },
    },
  },
  '/session': {
    get: {
      summary: 'Who the API takes the caller to be, and how callers are identified',
      tags: ['dashboard'],
      responses: { 200: 'Session' },
    },
  },
  '/api/v1/admin/jobs': {
    get: {
      summary: "The organisation's jobs (admins, seed 002)",
      tags: ['novus'],
      parameters: NOVUS_LIST_PARAMS,
      responses: { 200: 'NovusJobList', 400: 'Error', 401: 'Error', 403: 'Error' },
    },
  },
  '/api/v1/admin/jobs/stats': {
    get: {
      summary: "The organisation's jobs by status and type (admins, seed 002)",
      tags: ['novus'],
      parameters: [STATS_PARAMS[0], query('job_type', { type: 'string' }, 'only this job type')],
      responses: { 200: 'NovusJobStats', 400: 'Error', 401: 'Error', 403: 'Error' },
    },
  },
  '/api/v1/admin/jobs/{id}/retry': {
    post: {
      summary: 'Retry a failed job of the organisation (admins, seed 002)',
      tags: ['novus'],
      parameters: [idParam],
      responses: { 200: 'NovusJob', 401: 'Error', 403: 'Error', 404: 'Error', 409: 'Error' },
    },
  },
  '/api/v1/admin/jobs/{id}': {
    delete: {
      summary: 'Cancel a pending job of the organisation (admins, seed 002)',
      tags: ['novus'],
      parameters: [idParam],
      responses: { 200: 'NovusJob', 401: 'Error', 403: 'Error', 404: 'Error', 409: 'Error' },
    },
  },
  '/api/v1/cron/jobs': {
    get: {
      summary:
        'Whether the queue is being processed, and the jobs by status (a scheduler, with `Bearer <JOBDECK_CRON_SECRET>`; seed 002)',
      tags: ['novus'],
      responses: { 200: 'NovusCronReport', 401: 'Error', 404: 'Error' },
    },
  },
};

function strip(schema: Record<string, unknown>): Record<string, unknown> {
  const { $schema: _schema, $id: _id, ...rest } = schema;
  return rest;
}

function responseSchema(name: string): unknown {
  if (name.endsWith('[]'))
    return { type: 'array', items: { $ref: `#/components/schemas/${name.slice(0, -2)}` } };
  return { $ref: `#/components/schemas/${name}` };
}

/**
 * The OpenAPI 3.1 description of the REST routes, generated from the response schemas. `prefix`:
 * where an application mounted jobdeck (its `servers` entry), '' at the root.
 */
export function buildOpenApi(version: string, prefix = ''): Record<string, unknown> {
  const generated = z.toJSONSchema(z.globalRegistry, {
    uri: (id) => `#/components/schemas/${id}`,
    io: 'output',
  }) as { schemas: Record<string, Record<string, unknown>> };
  const schemas = Object.fromEntries(
    Object.entries(generated.schemas).map(([id, schema]) => [id, strip(schema)]),
  );
  // Request bodies as clients send them (defaults make fields optional).
  schemas['CreateJob'] = strip(
    z.toJSONSchema(CreateJobBody, { io: 'input' }) as Record<string, unknown>,
  );
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, methods] of Object.entries(OPERATIONS)) {
    paths[path] = {};
    for (const [method, op] of Object.entries(methods)) {
      paths[path]![method] = {
        summary: op.summary,
        tags: op.tags,
        security: [{ bearer: [] }],
        ...(op.parameters ? { parameters: op.parameters } : {}),
        ...(op.body
          ? {
              requestBody: {
                required: true,
                content: { 'application/json': { schema: responseSchema(op.body) } },
              },
            }
          : {}),
        responses: Object.fromEntries(
          Object.entries(op.responses).map(([status, name]) => [
            status,
            name === SSE
              ? {
                  description: 'text/event-stream',
                  content: { 'text/event-stream': { schema: { type: 'string' } } },
                }
              : name === FILE
                ? {
                    description: 'the file',
                    content: {
                      'text/csv': { schema: { type: 'string' } },
                      'application/json': { schema: {} },
                    },
                  }
                : {
                    description: name === 'Error' ? 'error' : 'success',
                    content: { 'application/json': { schema: responseSchema(name) } },
                  },
          ]),
        ),
      };
    }
  }
  return {
    openapi: '3.1.0',
    ...(prefix ? { servers: [{ url: prefix }] } : {}),
    info: {
      title: 'jobdeck REST API',
      version,
      description:
        'The REST contract of the seed frontends. Every route needs `Authorization: Bearer <JWT>` and sees what row-level security lets the caller see; errors are `{error, message}`. GraphQL lives at /graphql.',
    },
    components: {
      schemas,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
    paths,
  };
}

/** Serves the description at `GET /openapi.json` (no token needed). */
export function registerOpenApi(app: FastifyInstance, version: string, prefix = ''): void {
  const document = buildOpenApi(version, prefix);
  app.get('/openapi.json', async () => document);
}
