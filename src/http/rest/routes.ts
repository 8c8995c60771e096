import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database, Job } from '../../db/types.ts';
import type { Identity } from '../../auth/identity.ts';
import { withIdentity, withReadIdentity } from '../../auth/scoped.ts';
import { cancelJobOn, retryJobOn } from '../../jobs/control.ts';
import { enqueueJobAsCaller } from '../../jobs/enqueue.ts';
import { findJob, findJobIdByDownloadUrl, getJob, listJobsByPage } from '../../jobs/repository.ts';
import { JOB_ID_PATTERN } from '../../jobs/ids.ts';
import { EXPORTS_PATH, isExportFile, type DownloadLinks } from '../../auth/download-links.ts';
import { jobViewFor } from '../job-view.ts';
import { JOB_STATUSES } from '../../jobs/states.ts';
import { HttpError } from './errors.ts';
import { registerOsintRoutes } from './osint.ts';
import { jobIdParams, parse, requireIdentity, wholeNumber } from './requests.ts';
import { CreateJobBody } from './schemas.ts';
import { c4Job, c4Permissions } from './serialize.ts';
import { registerDatabizRoutes } from './databiz.ts';
import { registerNovusRoutes } from './novus.ts';
import { registerPauseRoutes } from './pauses.ts';
import { registerTemplateRoutes } from './templates.ts';
import { registerGraphRoutes } from './graphs.ts';

export interface RestOptions {
  apiPool: pg.Pool;
  /**
   * Where GET routes read: the replica's API pool with JOBDECK_REPLICA_URL, else `apiPool`
   * (docs/connections.md, "Read replicas").
   */
  readPool: pg.Pool;
  /** Mints the signed `downloadUrl` of exports and checks it on the download route. */
  links: DownloadLinks;
  /** Where export_report writes its files (`<data dir>/exports`). */
  exportsDir: string;
  /** The verified caller (null: no token); the server's auth hook has refused bad tokens. */
  identityOf(request: FastifyRequest): Identity | null;
  /** Seconds a succeeded job stays in `GET /api/v2/jobs/active` (seed 001: 5 minutes). */
  widgetCompletedTtlSeconds: number;
  /** The bearer secret of Novus's `GET /api/v1/cron/jobs` (JOBDECK_CRON_SECRET); unset: off. */
  cronSecret: string | undefined;
  /** The owner's connection, for the cron report's figures across organisations. */
  ownerDb: Kysely<Database>;
  /** A worker whose heartbeat is older is gone (JOBDECK_RESCUE_AFTER_MS). */
  workerStaleMs: number;
  /** Organisations whose admins may pause and resume (JOBDECK_OPERATOR_ORGS). */
  operatorOrgs: readonly string[];
}

/** The query string of a signed download link ({@link DownloadLinks}). */
const signedLinkQuery = z
  .object({
    job: z.string().regex(JOB_ID_PATTERN, 'job must be a job id (a UUID)'),
    user: z.string().min(1).max(200),
    org: z.string().min(1).max(200),
    role: z.enum(['user', 'admin'], 'role must be "user" or "admin"'),
    expires: wholeNumber('expires', 0, 1e11),
    sig: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'sig must be 43 base64url characters'),
  })
  .strict();

const listQuery = z
  .object({
    page: wholeNumber('page', 1, 1_000_000).default(1),
    pageSize: wholeNumber('pageSize', 1, 100).default(25),
    status: z.enum(JOB_STATUSES, `status must be one of ${JOB_STATUSES.join(', ')}`).optional(),
    jobType: z.string().min(1).max(128).optional(),
  })
  .strict();

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
 * `/api/v2/jobs/active` (databiz.ts), C4's `/v1/jobs…`, Novus's `/api/v1/…` routes (novus.ts), the
 * OSINT monitor's `/jobs…` (osint.ts). Same token and row-level security as GraphQL:
 * every query runs as the caller's database role.
 */
export function registerRestRoutes(app: FastifyInstance, options: RestOptions): void {
  // GET (and HEAD) routes only read: they go to the replica when there is one, and to the primary
  // again for a row it has not replayed yet. Everything else writes, and answers from its own
  // write, on the primary. A GET that wrote would fail there (a standby's transactions are
  // read-only), not silently.
  const scoped = <T>(request: FastifyRequest, fn: (db: Kysely<Database>) => Promise<T>) => {
    const identity = requireIdentity(options.identityOf(request));
    return request.method === 'GET' || request.method === 'HEAD'
      ? withReadIdentity(options, identity, ({ db }) => fn(db))
      : withIdentity(options.apiPool, identity, ({ db }) => fn(db));
  };
  const viewOf = (request: FastifyRequest) =>
    jobViewFor(requireIdentity(options.identityOf(request)), options.links);

  // --- seeds 000/001: the DataBiz widget; seed 002: Novus --------------------------------------
  registerDatabizRoutes(app, {
    scoped,
    widgetCompletedTtlSeconds: options.widgetCompletedTtlSeconds,
  });
  registerNovusRoutes(app, {
    scoped,
    viewOf,
    identityOf: options.identityOf,
    cronSecret: options.cronSecret,
    ownerDb: options.ownerDb,
    workerStaleMs: options.workerStaleMs,
  });

  // --- seed 004: C4 ----------------------------------------------------------------------------
  app.post('/v1/jobs', async (request, reply) => {
    const body = parse(CreateJobBody, request.body, 'body');
    const job = await scoped(request, (db) =>
      enqueueJobAsCaller(db, body.jobType, body.payload, {
        priority: body.priority,
        maxAttempts: body.maxRetries === undefined ? undefined : body.maxRetries + 1,
        dependsOn: body.dependsOn,
        onDependencyFailure: body.onDependencyFailure,
      }),
    );
    return reply.code(201).send({ jobId: job.id, message: 'Job created successfully' });
  });

  app.get('/v1/jobs/:id/status', async (request) => {
    const { id } = parse(jobIdParams, request.params, 'path');
    const job = viewOf(request)(await scoped(request, (db) => getJob(db, id)));
    return { job: c4Job(job), progress: job.progress, ...c4Permissions(job) };
  });

  app.get('/v1/jobs', async (request) => {
    const query = parse(listQuery, request.query, 'query string');
    const { jobs, total } = await scoped(request, (db) => listJobsByPage(db, pageQuery(query)));
    const view = viewOf(request);
    return { jobs: jobs.map((job) => c4Job(view(job))), ...paged(query, total) };
  });

  // The control functions decide, as for GraphQL, the CLI and the dashboard (one rule, one read
  // of the row): a refusal is a 409 with their message, cancelling a cancelled job succeeds.
  const c4Action =
    (act: (db: Kysely<Database>, id: string) => Promise<Job>, message: string) =>
    async (request: FastifyRequest) => {
      const { id } = parse(jobIdParams, request.params, 'path');
      await scoped(request, (db) => act(db, id));
      return { message };
    };
  app.post('/v1/jobs/:id/cancel', c4Action(cancelJobOn, 'Job cancelled successfully'));
  app.post('/v1/jobs/:id/retry', c4Action(retryJobOn, 'Job retry initiated successfully'));

  // Issue 20: pausing and resuming, for operators.
  registerPauseRoutes(app, {
    identityOf: options.identityOf,
    operatorOrgs: options.operatorOrgs,
    ownerDb: options.ownerDb,
  });

  // Issue 21: job templates, listed and enqueued from as the caller.
  registerTemplateRoutes(app, { scoped });
  registerGraphRoutes(app, { scoped });

  // Seed 003, the OSINT monitor: its own module.
  registerOsintRoutes(app, { scoped, viewOf });

  // The `downloadUrl` of an export's result: served to whoever may see that job, nobody else.
  // Either the caller's Authorization header, or a signed link (docs/rest.md, "Download links")
  // minted for an identity: the job is then read as that identity, so the link stops working
  // when it can no longer see the job, as well as when it expires.
  app.get('/api/v1/exports/:file', async (request, reply) => {
    const { file } = request.params as { file: string };
    const notFound = new HttpError(404, 'not_found', `export ${file} not found`);
    if (!isExportFile(file)) throw notFound;
    const url = `${EXPORTS_PATH}${file}`;
    const query = (request.query ?? {}) as Record<string, unknown>;
    // The job that may have it is read as the caller or the link's identity: not found, 404.
    if (query['sig'] !== undefined) {
      const params = parse(signedLinkQuery, query, 'download link');
      const checked = options.links.verify(file, params);
      if ('kind' in checked)
        throw new HttpError(checked.kind === 'expired' ? 410 : 403, checked.kind, checked.message);
      await withReadIdentity(options, checked.identity, async ({ db }) => {
        const job = await findJob(db, checked.jobId);
        const result = job?.result as Record<string, unknown> | null | undefined;
        if (!(job && result?.['downloadUrl'] === url)) throw notFound;
        return job.id;
      });
    } else {
      await scoped(request, async (db) => {
        const id = await findJobIdByDownloadUrl(db, url);
        if (!id) throw notFound; // inside: a job the replica has not replayed is read again
        return id;
      });
    }
    let body: Buffer;
    try {
      body = await readFile(path.join(options.exportsDir, file));
    } catch {
      throw new HttpError(404, 'not_found', `export ${file} is no longer available`);
    }
    return (
      reply
        .type(file.endsWith('.csv') ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8')
        .header('content-disposition', `attachment; filename="${file}"`)
        // a link that grants access is not for shared caches
        .header('cache-control', 'private, no-store')
        .send(body)
    );
  });
}
