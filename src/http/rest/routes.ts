import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database, Job } from '../../db/types.ts';
import type { Identity } from '../../auth/identity.ts';
import { withIdentity } from '../../auth/scoped.ts';
import { cancelJobOn, jobStatsOn, retryJobOn } from '../../jobs/control.ts';
import { enqueueJobAsCaller } from '../../jobs/enqueue.ts';
import {
  findJobIdByDownloadUrl,
  getJob,
  listJobsByPage,
  listRecentJobsOfCaller,
} from '../../jobs/repository.ts';
import { JOB_STATUSES } from '../../jobs/states.ts';
import { HttpError } from './errors.ts';
import { registerOsintRoutes } from './osint.ts';
import { jobIdParams, parse, requireIdentity, sinceParam, wholeNumber } from './requests.ts';
import { CreateJobBody } from './schemas.ts';
import { c4Job, c4Permissions, detailJob, widgetJob } from './serialize.ts';

export interface RestOptions {
  apiPool: pg.Pool;
  /** Where export_report writes its files (`<data dir>/exports`). */
  exportsDir: string;
  /** The verified caller (null: no token); the server's auth hook has refused bad tokens. */
  identityOf(request: FastifyRequest): Identity | null;
  /** Seconds a succeeded job stays in `GET /api/v2/jobs/active` (seed 001: 5 minutes). */
  widgetCompletedTtlSeconds: number;
}

const listQuery = z
  .object({
    page: wholeNumber('page', 1, 1_000_000).default(1),
    pageSize: wholeNumber('pageSize', 1, 100).default(25),
    status: z.enum(JOB_STATUSES, `status must be one of ${JOB_STATUSES.join(', ')}`).optional(),
    jobType: z.string().min(1).max(128).optional(),
  })
  .strict();

function requireAdmin(identity: Identity): void {
  if (identity.role !== 'admin')
    throw new HttpError(403, 'forbidden', 'this route is for organisation admins (role "admin")');
}

const pageQuery = (query: z.output<typeof listQuery>) => ({
  page: query.page,
  pageSize: query.pageSize,
  status: query.status,
  type: query.jobType,
});

const paged = (query: z.output<typeof listQuery>, total: number) => ({
  total,
  page: query.page,
  pageSize: query.pageSize,
  totalPages: Math.ceil(total / query.pageSize),
});

/**
 * The REST contract existing frontends call (../shared/seeds): the DataBiz widget's
 * `/api/v2/jobs/active`, C4's `/v1/jobs…`, Novus's `/api/v1/jobs/:id` and admin routes, the OSINT
 * monitor's `/jobs…` (./osint.ts). Same token and row-level security as GraphQL:
 * every query runs as the caller's database role.
 */
export function registerRestRoutes(app: FastifyInstance, options: RestOptions): void {
  const scoped = <T>(request: FastifyRequest, fn: (db: Kysely<Database>) => Promise<T>) =>
    withIdentity(options.apiPool, requireIdentity(options.identityOf(request)), ({ db }) => fn(db));

  // --- seeds 000/001: the widget polls this every 10 s ---------------------------------------
  app.get('/api/v2/jobs/active', async (request) =>
    scoped(request, async (db) => {
      const jobs = await listRecentJobsOfCaller(db, {
        succeededForSeconds: options.widgetCompletedTtlSeconds,
      });
      return jobs.map(widgetJob);
    }),
  );

  // --- seed 004: C4 ----------------------------------------------------------------------------
  app.post('/v1/jobs', async (request, reply) => {
    const body = parse(CreateJobBody, request.body, 'body');
    const job = await scoped(request, (db) =>
      enqueueJobAsCaller(db, body.jobType, body.payload, {
        priority: body.priority,
        maxAttempts: body.maxRetries === undefined ? undefined : body.maxRetries + 1,
      }),
    );
    return reply.code(201).send({ jobId: job.id, message: 'Job created successfully' });
  });

  app.get('/v1/jobs/:id/status', async (request) => {
    const { id } = parse(jobIdParams, request.params, 'path');
    const job = await scoped(request, (db) => getJob(db, id));
    return { job: c4Job(job), progress: job.progress, ...c4Permissions(job) };
  });

  app.get('/v1/jobs', async (request) => {
    const query = parse(listQuery, request.query, 'query string');
    const { jobs, total } = await scoped(request, (db) => listJobsByPage(db, pageQuery(query)));
    return { jobs: jobs.map(c4Job), ...paged(query, total) };
  });

  /**
   * Seed 004's cancel and retry act exactly when the status body says they may (`may`): the job is
   * read once for its state, then the control function decides again under the row's lock, so a
   * job that changed in between is refused there with its own 409.
   */
  const c4Action =
    (
      may: 'canCancel' | 'canRetry',
      refusal: (job: Job, id: string) => string,
      act: (db: Kysely<Database>, id: string) => Promise<Job>,
      message: string,
    ) =>
    async (request: FastifyRequest) => {
      const { id } = parse(jobIdParams, request.params, 'path');
      await scoped(request, async (db) => {
        const job = await getJob(db, id);
        if (!c4Permissions(job)[may]) throw new HttpError(409, 'invalid_state', refusal(job, id));
        await act(db, id);
      });
      return { message };
    };
  app.post(
    '/v1/jobs/:id/cancel',
    c4Action(
      'canCancel',
      (job, id) => `job ${id} is ${job.status} and cannot be cancelled`,
      cancelJobOn,
      'Job cancelled successfully',
    ),
  );
  app.post(
    '/v1/jobs/:id/retry',
    c4Action(
      'canRetry',
      (job, id) =>
        job.status === 'failed'
          ? `job ${id} has used its ${job.max_attempts - 1} retries`
          : `job ${id} is ${job.status}; only failed jobs can be retried`,
      retryJobOn,
      'Job retry initiated successfully',
    ),
  );

  // --- seeds 002/003: Novus and the OSINT monitor ------------------------------------------------
  const detail = async (request: FastifyRequest) => {
    const { id } = parse(jobIdParams, request.params, 'path');
    return detailJob(await scoped(request, (db) => getJob(db, id)));
  };
  app.get('/api/v1/jobs/:id', detail);

  const statsQuery = z
    .object({
      since: sinceParam.optional(),
      type: z.string().min(1).max(128).optional(),
    })
    .strict();
  const stats = async (request: FastifyRequest) => {
    const query = parse(statsQuery, request.query, 'query string');
    return scoped(request, (db) => jobStatsOn(db, { since: query.since, type: query.type }));
  };

  // Seed 003, the OSINT monitor: its own module.
  registerOsintRoutes(app, { scoped });

  // The `downloadUrl` of an export's result: served to whoever may see that job, nobody else.
  const EXPORT_FILE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$/;
  app.get('/api/v1/exports/:file', async (request, reply) => {
    const { file } = request.params as { file: string };
    const notFound = new HttpError(404, 'not_found', `export ${file} not found`);
    if (!EXPORT_FILE.test(file) || file.includes('..')) throw notFound;
    const owner = await scoped(request, (db) =>
      findJobIdByDownloadUrl(db, `/api/v1/exports/${file}`),
    );
    if (!owner) throw notFound;
    let body: Buffer;
    try {
      body = await readFile(path.join(options.exportsDir, file));
    } catch {
      throw new HttpError(404, 'not_found', `export ${file} is no longer available`);
    }
    return reply
      .type(file.endsWith('.csv') ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8')
      .header('content-disposition', `attachment; filename="${file}"`)
      .send(body);
  });

  // Novus admin: the organisation's jobs (row-level security scopes an admin to their org). The
  // control functions decide whether a job may be retried or cancelled.
  app.get('/api/v1/admin/jobs', async (request) => {
    requireAdmin(requireIdentity(options.identityOf(request)));
    const query = parse(listQuery, request.query, 'query string');
    const { jobs, total } = await scoped(request, (db) => listJobsByPage(db, pageQuery(query)));
    return { jobs: jobs.map(detailJob), ...paged(query, total) };
  });
  app.get('/api/v1/admin/jobs/stats', async (request) => {
    requireAdmin(requireIdentity(options.identityOf(request)));
    return stats(request);
  });
  app.post('/api/v1/admin/jobs/:id/retry', async (request) => {
    requireAdmin(requireIdentity(options.identityOf(request)));
    const { id } = parse(jobIdParams, request.params, 'path');
    return detailJob(await scoped(request, (db) => retryJobOn(db, id)));
  });
  app.delete('/api/v1/admin/jobs/:id', async (request) => {
    requireAdmin(requireIdentity(options.identityOf(request)));
    const { id } = parse(jobIdParams, request.params, 'path');
    return detailJob(await scoped(request, (db) => cancelJobOn(db, id)));
  });
}
