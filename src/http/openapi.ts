import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { queryParam, uuidPathParam } from './openapi-params.ts';
import { OSINT_OPERATIONS } from './rest/osint-schemas.ts';
// The response and request schemas register themselves (`.meta({ id })`) in zod's global registry.
import './rest/schemas.ts';
import './rest/pauses.ts';
import './rest/batches.ts';
import './rest/templates.ts';
import './rest/graphs.ts';
import { JOB_STATUSES } from '../jobs/states.ts';
import { NOVUS_STATUSES } from './rest/novus-contract.ts';

type Responses = Record<number, string>;
/** One route's description (src/http/rest/osint-schemas.ts adds seed 003's). */
export interface Operation {
  summary: string;
  /** Longer prose, when the summary cannot say it all. */
  description?: string;
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

const PAUSE_AUTH =
  'For admins of an operator organisation (JOBDECK_OPERATOR_ORGS) only: a pause holds every tenant’s jobs. Others get 403.';
const namePathParam = (name: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string', minLength: 1, maxLength: 128 },
});
function pauseOperation(summary: string, param?: string): Operation {
  return {
    summary,
    description: `Waiting jobs stay queued, held with the reason \`paused: …\`; running jobs finish unless \`cancelRunning\`. Pausing again updates the reason. ${PAUSE_AUTH}`,
    tags: ['admin'],
    ...(param ? { parameters: [namePathParam(param)] } : {}),
    body: 'PauseBody',
    responses: { 200: 'PauseResult', 400: 'Error', 401: 'Error', 403: 'Error' },
  };
}
function resumeOperation(summary: string, param?: string): Operation {
  return {
    summary,
    description: `Resuming what is not paused changes nothing (\`resumed\`: false). ${PAUSE_AUTH}`,
    tags: ['admin'],
    ...(param ? { parameters: [namePathParam(param)] } : {}),
    responses: { 200: 'ResumeResult', 400: 'Error', 401: 'Error', 403: 'Error' },
  };
}

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
      responses: { 200: 'Message', 401: 'Error', 403: 'Error', 404: 'Error', 409: 'Error' },
    },
  },
  '/v1/jobs/{id}/retry': {
    post: {
      summary: 'Retry a failed job with retries left (seed 004)',
      tags: ['c4'],
      parameters: [idParam],
      responses: { 200: 'Message', 401: 'Error', 403: 'Error', 404: 'Error', 409: 'Error' },
    },
  },
  '/v1/jobs/{id}/events': {
    get: {
      summary: 'Server-sent events: `job` (a C4Status) on each change, then `end`',
      tags: ['live'],
      parameters: [idParam],
      responses: { 200: SSE, 401: 'Error', 404: 'Error', 429: 'Error' },
    },
  },
  '/v1/jobs/events': {
    get: {
      summary: "Server-sent events: `job` (a C4Status) on each change of the caller's jobs",
      tags: ['live'],
      responses: { 200: SSE, 401: 'Error', 429: 'Error' },
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
  '/api/v1/jobs/{id}/steps': {
    get: {
      summary: "A job's durable steps and their stored results (jobdeck)",
      tags: ['novus'],
      parameters: [idParam],
      responses: { 200: 'JobStepList', 400: 'Error', 401: 'Error', 404: 'Error' },
    },
  },
  ...OSINT_OPERATIONS,
  '/api/v1/exports/{file}': {
    get: {
      summary:
        "An export's file (the `downloadUrl` of export_report's result), for those who may see the job",
      description:
        'With `Authorization: Bearer <token>`, or as the signed link the API returns as `downloadUrl` ' +
        '(`job`, `user`, `org`, `role`, `expires`, `sig`; no header needed): the job is read as the ' +
        "link's identity, so the link stops working when that identity can no longer see the job " +
        '(404). A signature that does not match is 403 `bad_signature`; an expired link 410 `expired`.',
      tags: ['c4'],
      parameters: [
        { name: 'file', in: 'path', required: true, schema: { type: 'string' } },
        ...(['job', 'user', 'org', 'role', 'expires', 'sig'] as const).map((name) => ({
          name,
          in: 'query' as const,
          required: false,
          description: 'part of a signed link (all six or none)',
          schema: { type: 'string' },
        })),
      ],
      responses: { 200: FILE, 401: 'Error', 403: 'Error', 404: 'Error', 410: 'Error' },
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
  '/api/v2/batches/{id}': {
    get: {
      summary: 'A batch with its aggregate progress (done, failed, cancelled of total, percent)',
      tags: ['batches'],
      parameters: [idParam],
      responses: { 200: 'Batch', 401: 'Error', 404: 'Error' },
    },
  },
  '/api/v2/batches/{id}/cancel': {
    post: {
      summary: 'Cancel every unfinished job of a batch (running ones through their worker)',
      tags: ['batches'],
      parameters: [idParam],
      responses: { 200: 'Batch', 401: 'Error', 403: 'Error', 404: 'Error' },
    },
  },
  '/api/v2/batches/{id}/events': {
    get: {
      summary: 'Server-sent events: `batch` (a Batch) now and on each change, then `end`',
      tags: ['live'],
      parameters: [idParam],
      responses: { 200: SSE, 401: 'Error', 404: 'Error' },
    },
  },
  '/api/v2/admin/pauses': {
    get: {
      summary: 'What is paused now, with the jobs each pause holds (operators)',
      description: PAUSE_AUTH,
      tags: ['admin'],
      responses: { 200: 'PauseList', 401: 'Error', 403: 'Error' },
    },
  },
  '/api/v2/admin/queues/{queue}/pause': {
    post: pauseOperation('Pause a queue on every worker (operators)', 'queue'),
  },
  '/api/v2/admin/queues/{queue}/resume': {
    post: resumeOperation('Resume a queue: its held jobs start at once (operators)', 'queue'),
  },
  '/api/v2/admin/types/{type}/pause': {
    post: pauseOperation('Pause a task type on every worker (operators)', 'type'),
  },
  '/api/v2/admin/types/{type}/resume': {
    post: resumeOperation('Resume a task type: its held jobs start at once (operators)', 'type'),
  },
  '/api/v2/admin/pause': { post: pauseOperation('Pause everything on every worker (operators)') },
  '/api/v2/admin/resume': {
    post: resumeOperation('Resume everything: held jobs start at once (operators)'),
  },
  '/api/v2/templates': {
    get: {
      summary: 'The job templates you may enqueue from: the global ones and your organisation’s',
      tags: ['templates'],
      responses: { 200: 'TemplateList', 401: 'Error' },
    },
  },
  '/api/v2/templates/{name}/jobs': {
    post: {
      summary: 'Enqueue a job from a template',
      description:
        'The payload is deep-merged over the template’s payload defaults, then validated by the task’s payload schema; priority and maxAttempts override the template’s. Needs jobs.create_jobs; a template of another organisation is 404, as an unknown one.',
      tags: ['templates'],
      parameters: [
        {
          name: 'name',
          in: 'path',
          required: true,
          schema: { type: 'string', minLength: 1, maxLength: 128 },
        },
      ],
      body: 'TemplateJobBody',
      responses: {
        201: 'TemplateJobCreated',
        400: 'Error',
        401: 'Error',
        403: 'Error',
        404: 'Error',
        413: 'Error',
      },
    },
  },
  '/api/v2/job-graphs': {
    post: {
      summary: 'Enqueue jobs that depend on each other, in one call',
      description:
        'Jobs by a ref of your choosing; `dependsOn` names refs of this graph or ids of your existing jobs. A job is `waiting` until its dependencies have succeeded; `onDependencyFailure` (cancel, the default, or run) says what happens when one fails. All or none; cycles are refused; every error names the job’s ref. Needs jobs.create_jobs.',
      tags: ['jobs'],
      body: 'JobGraphBody',
      responses: { 201: 'JobGraphCreated', 400: 'Error', 401: 'Error', 403: 'Error', 404: 'Error' },
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
 * Answers any route can give besides its own (`components.responses`): a malformed URL (400), a
 * refused token (401), an unexpected failure (500), the database away (503); and, for routes that
 * take a body, a concurrent change of the row they write (409), one too large (413) or of a type
 * the server does not read (415).
 */
const COMMON_RESPONSES = {
  BadRequest: 'a malformed request: an undecodable URL, broken JSON, input that fails validation',
  Unauthorized: 'no token, or one that was refused (`WWW-Authenticate: Bearer`)',
  Forbidden:
    'the caller lacks the permission or role this needs (a download link: its signature does not match)',
  NotFound: 'no such job, or one the caller may not see',
  Conflict:
    'the job is in a state that does not allow this (`invalid_state`), or it changed while the request ran (`concurrent_change`: nothing was changed, send it again)',
  Gone: 'the download link expired; read the job again for a new one',
  PayloadTooLarge: 'the body is larger than JOBDECK_MAX_BODY_BYTES',
  UnsupportedMediaType: 'a body that is not `application/json`',
  TooManyStreams: 'the caller holds JOBDECK_SSE_MAX_STREAMS_PER_USER event streams already',
  Internal: 'an unexpected failure; the message carries a reference to the server log',
  Unavailable:
    'the database is unavailable; nothing was changed (`Retry-After` says when to retry)',
} as const;
type CommonResponse = keyof typeof COMMON_RESPONSES;
const BY_STATUS: Record<number, CommonResponse> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  410: 'Gone',
  413: 'PayloadTooLarge',
  415: 'UnsupportedMediaType',
  429: 'TooManyStreams',
  500: 'Internal',
  503: 'Unavailable',
};
const BODY_METHODS = new Set(['post', 'put', 'patch', 'delete']);

/** The statuses a route answers: its own, and those every route (or every body route) can. */
function statusesOf(path: string, method: string, op: Operation): Responses {
  const all: Responses = { ...op.responses, 400: 'Error', 500: 'Error', 503: 'Error' };
  // /session answers a refused token with 200 (it says why); every other route with 401
  if (path !== '/session') all[401] = 'Error';
  // a write may meet a concurrent change of its row (409 concurrent_change, src/http/rest/errors.ts)
  if (BODY_METHODS.has(method)) Object.assign(all, { 409: 'Error', 413: 'Error', 415: 'Error' });
  return all;
}

function responseObject(status: number, name: string): unknown {
  if (name === SSE)
    return {
      description: 'an event stream',
      content: { 'text/event-stream': { schema: { type: 'string' } } },
    };
  if (name === FILE)
    return {
      description: 'the file',
      content: {
        'text/csv': { schema: { type: 'string' } },
        'application/json': { schema: {} },
      },
    };
  if (name === 'Error') {
    const common = BY_STATUS[status];
    if (!common) throw new Error(`no common response for status ${status}`);
    return { $ref: `#/components/responses/${common}` };
  }
  return {
    description: 'success',
    content: { 'application/json': { schema: responseSchema(name) } },
  };
}

/**
 * The OpenAPI 3.1 description of the REST routes, generated from the response schemas. `prefix`:
 * where an application mounted jobdeck (its `servers` entry), '' at the root.
 */
export function buildOpenApi(version: string, prefix = ''): Record<string, unknown> {
  const uri = (id: string) => `#/components/schemas/${id}`;
  const generated = z.toJSONSchema(z.globalRegistry, { uri, io: 'output' }) as {
    schemas: Record<string, Record<string, unknown>>;
  };
  const schemas = Object.fromEntries(
    Object.entries(generated.schemas).map(([id, schema]) => [id, strip(schema)]),
  );
  // Request bodies as clients send them (defaults make fields optional). Taken from the registry
  // in input mode, so the schema is the component itself rather than a `$ref` into `$defs` that
  // no longer exist once it is moved under components.
  const inputs = z.toJSONSchema(z.globalRegistry, { uri, io: 'input' }) as {
    schemas: Record<string, Record<string, unknown>>;
  };
  schemas['CreateJob'] = strip(inputs.schemas['CreateJob']!);
  const responses = Object.fromEntries(
    Object.entries(COMMON_RESPONSES).map(([name, description]) => [
      name,
      {
        description,
        ...(name === 'Unavailable'
          ? {
              headers: {
                'Retry-After': { description: 'seconds', schema: { type: 'integer' } },
              },
            }
          : {}),
        content: { 'application/json': { schema: responseSchema('Error') } },
      },
    ]),
  );
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, methods] of Object.entries(OPERATIONS)) {
    paths[path] = {};
    for (const [method, op] of Object.entries(methods)) {
      const statuses = statusesOf(path, method, op);
      paths[path]![method] = {
        summary: op.summary,
        ...(op.description ? { description: op.description } : {}),
        tags: op.tags,
        // a signed download link stands in for the token (`{}`: no scheme needed)
        security:
          path === '/session' || path === '/api/v1/exports/{file}'
            ? [{}, { bearer: [] }]
            : [{ bearer: [] }],
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
          Object.keys(statuses)
            .map(Number)
            .sort((a, b) => a - b)
            .map((status) => [String(status), responseObject(status, statuses[status]!)]),
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
        'The REST contract of the seed frontends. Every route needs `Authorization: Bearer <JWT>` and sees what row-level security lets the caller see; errors are `{error, message}`. Every GET route also answers HEAD (headers only; an event stream is not opened), and a method a path does not serve is answered 405 with `Allow`. GraphQL lives at /graphql.',
    },
    components: {
      schemas,
      responses,
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
