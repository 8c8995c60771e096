import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Identity } from '../../auth/identity.ts';
import type { Database, Job } from '../../db/types.ts';
import { cancelJobOn, jobStatsOn, retryJobOn } from '../../jobs/control.ts';
import { countJobsByStatus, countWorkers } from '../../jobs/monitoring.ts';
import { getJob, getJobSteps, listJobsByPage } from '../../jobs/repository.ts';
import type { JobStatus } from '../../jobs/states.ts';
import type { JobView } from '../job-view.ts';
import { HttpError } from './errors.ts';
import { stepView } from './serialize.ts';
import {
  NOVUS_STATUS,
  NOVUS_STATUSES,
  jobdeckStatusesOf,
  novusCounts,
  novusJob,
  novusStats,
} from './novus-contract.ts';
import {
  jobIdParams,
  parse,
  requireAdmin,
  requireIdentity,
  wholeNumber,
  type Scoped,
} from './requests.ts';

/** What the Novus routes need besides the request's transaction. */
export interface NovusRouteOptions {
  scoped: Scoped;
  /** What the request's caller is shown of a job (stacks for admins, signed download links). */
  viewOf(request: FastifyRequest): JobView;
  identityOf(request: FastifyRequest): Identity | null;
  /** The bearer secret of `GET /api/v1/cron/jobs` (JOBDECK_CRON_SECRET); unset: the route is off. */
  cronSecret: string | undefined;
  /** The owner's connection: the cron report counts every organisation's jobs. */
  ownerDb: Kysely<Database>;
  /** A worker whose heartbeat is older is gone (JOBDECK_RESCUE_AFTER_MS). */
  workerStaleMs: number;
}

const DEFAULT_PAGE_SIZE = 25;

/** FastAPI-style snake_case: `page`/`page_size` or `limit`/`offset`, `status`, `job_type`. */
const listQuery = z
  .object({
    page: wholeNumber('page', 1, 1_000_000).optional(),
    page_size: wholeNumber('page_size', 1, 100).optional(),
    limit: wholeNumber('limit', 1, 100).optional(),
    offset: wholeNumber('offset', 0, 100_000_000).optional(),
    status: z.enum(NOVUS_STATUSES, `status must be one of ${NOVUS_STATUSES.join(', ')}`).optional(),
    job_type: z.string().min(1).max(128).optional(),
  })
  .strict()
  .refine(
    (q) =>
      (q.page === undefined && q.page_size === undefined) ||
      (q.limit === undefined && q.offset === undefined),
    'page it with page/page_size or with limit/offset, not both',
  );

const statsQuery = z
  .object({
    since: z
      .string()
      .refine((v) => !Number.isNaN(Date.parse(v)), 'since must be an ISO time')
      .optional(),
    job_type: z.string().min(1).max(128).optional(),
  })
  .strict();

/** The window of a list request, whichever way it was paged. */
function windowOf(query: z.output<typeof listQuery>) {
  if (query.limit !== undefined || query.offset !== undefined) {
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    const offset = query.offset ?? 0;
    return { limit, offset, page: Math.floor(offset / limit) + 1 };
  }
  const limit = query.page_size ?? DEFAULT_PAGE_SIZE;
  const page = query.page ?? 1;
  return { limit, offset: (page - 1) * limit, page };
}

/** Constant-time comparison of digests, so neither the secret's bytes nor its length leak. */
function sameSecret(sent: string | undefined, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return sent !== undefined && timingSafeEqual(digest(sent), digest(`Bearer ${expected}`));
}

/**
 * Seed 002 (Novus): the job status route, the admin routes and the cron route, in Novus's
 * vocabulary (src/http/rest/novus-contract.ts). Row-level security scopes a user to their own
 * jobs and an admin to their organisation's.
 */
export function registerNovusRoutes(app: FastifyInstance, options: NovusRouteOptions): void {
  const { scoped } = options;
  const admin = (request: FastifyRequest) =>
    requireAdmin(requireIdentity(options.identityOf(request)));

  app.get('/api/v1/jobs/:id', async (request) => {
    const { id } = parse(jobIdParams, request.params, 'path');
    return novusJob(options.viewOf(request)(await scoped(request, (db) => getJob(db, id))));
  });

  // jobdeck's addition to the contract: the job's durable steps and their stored results.
  app.get('/api/v1/jobs/:id/steps', async (request) => {
    const { id } = parse(jobIdParams, request.params, 'path');
    return scoped(request, async (db) => {
      await getJob(db, id); // 404 for a job the caller may not see, rather than no steps
      const steps = await getJobSteps(db, id);
      return { job_id: id, steps: steps.map(stepView) };
    });
  });

  app.get('/api/v1/admin/jobs', async (request) => {
    admin(request);
    const query = parse(listQuery, request.query, 'query string');
    const { limit, offset, page } = windowOf(query);
    const { jobs, total } = await scoped(request, (db) =>
      listJobsByPage(db, {
        page,
        pageSize: limit,
        offset,
        statuses: query.status ? jobdeckStatusesOf(query.status) : undefined,
        type: query.job_type,
      }),
    );
    return {
      jobs: jobs.map((job) => novusJob(options.viewOf(request)(job))),
      total,
      page,
      page_size: limit,
      total_pages: Math.ceil(total / limit),
      limit,
      offset,
    };
  });

  app.get('/api/v1/admin/jobs/stats', async (request) => {
    admin(request);
    const query = parse(statsQuery, request.query, 'query string');
    const stats = await scoped(request, (db) =>
      jobStatsOn(db, { since: query.since, type: query.job_type }),
    );
    return novusStats(stats);
  });

  /**
   * Retry and cancel act on the Novus statuses the seed names ("manual retry of failed job",
   * "cancel pending job"); the control functions decide again under the row's lock.
   */
  const act =
    (
      allowed: readonly string[],
      verb: string,
      fn: (db: Kysely<Database>, id: string) => Promise<Job>,
    ) =>
    async (request: FastifyRequest) => {
      admin(request);
      const { id } = parse(jobIdParams, request.params, 'path');
      const view = options.viewOf(request);
      return novusJob(
        await scoped(request, async (db) => {
          const status = NOVUS_STATUS[(await getJob(db, id)).status];
          if (!allowed.includes(status))
            throw new HttpError(
              409,
              'invalid_state',
              `job ${id} is ${status}; only ${allowed.join(' or ')} jobs can be ${verb}`,
            );
          return view(await fn(db, id));
        }),
      );
    };
  app.post('/api/v1/admin/jobs/:id/retry', act(['failed'], 'retried', retryJobOn));
  app.delete('/api/v1/admin/jobs/:id', act(['pending'], 'cancelled', cancelJobOn));

  /**
   * "Process pending jobs (cron-protected)". jobdeck's workers take jobs the moment they are
   * committed, so a scheduler's call has nothing left to start: it reports whether the queue is
   * being processed (a worker is alive) and the jobs by status, for every organisation.
   */
  app.get('/api/v1/cron/jobs', async (request) => {
    if (!options.cronSecret)
      throw new HttpError(
        404,
        'not_found',
        'GET /api/v1/cron/jobs is off: set JOBDECK_CRON_SECRET (16+ characters) on the server and send Authorization: Bearer <that secret>',
      );
    if (!sameSecret(request.headers.authorization, options.cronSecret))
      throw new HttpError(
        401,
        'unauthorized',
        'send Authorization: Bearer <JOBDECK_CRON_SECRET> (the cron secret, not a user token)',
      );
    const [workers, rows] = await Promise.all([
      countWorkers(options.ownerDb, options.workerStaleMs),
      countJobsByStatus(options.ownerDb),
    ]);
    const byStatus: Partial<Record<JobStatus, number>> = {};
    for (const row of rows) byStatus[row.status] = (byStatus[row.status] ?? 0) + row.n;
    const processing = workers.ready > 0;
    return {
      processing,
      workers: workers.alive,
      jobs: novusCounts(byStatus),
      message: processing
        ? 'workers process pending jobs as they are queued'
        : 'no worker is running: pending jobs wait until one starts (jobdeck worker)',
    };
  });
}
