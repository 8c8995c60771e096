import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import type { Database, Job, JobStatus } from '../../db/types.ts';
import type { Identity } from '../../auth/identity.ts';
import { withIdentity } from '../scoped.ts';
import { HttpError } from './errors.ts';
import { jobIdParams, parse, requireIdentity } from './requests.ts';
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

const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'retrying'] as const;
const wholeNumber = (name: string, min: number, max: number) =>
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

const listQuery = z
  .object({
    page: wholeNumber('page', 1, 1_000_000).default(1),
    pageSize: wholeNumber('pageSize', 1, 100).default(25),
    status: z.enum(STATUSES, `status must be one of ${STATUSES.join(', ')}`).optional(),
    jobType: z.string().min(1).max(128).optional(),
  })
  .strict();

function requireAdmin(identity: Identity): void {
  if (identity.role !== 'admin')
    throw new HttpError(403, 'forbidden', 'this route is for organisation admins (role "admin")');
}

/** A job the caller may see (row-level security), or 404 exactly as for one that does not exist. */
async function visibleJob(db: Kysely<Database>, id: string): Promise<Job> {
  const job = await db
    .selectFrom('jobdeck.jobs')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  if (!job) throw new HttpError(404, 'not_found', `job ${id} not found`);
  return job;
}

async function listPage(
  db: Kysely<Database>,
  query: z.output<typeof listQuery>,
): Promise<{ jobs: Job[]; total: number }> {
  let base = db.selectFrom('jobdeck.jobs');
  if (query.status) base = base.where('status', '=', query.status as JobStatus);
  if (query.jobType) base = base.where('type', '=', query.jobType);
  const [jobs, count] = await Promise.all([
    base
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(query.pageSize)
      .offset((query.page - 1) * query.pageSize)
      .execute(),
    base.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { jobs, total: Number(count.n) };
}

const paged = (query: z.output<typeof listQuery>, total: number) => ({
  total,
  page: query.page,
  pageSize: query.pageSize,
  totalPages: Math.ceil(total / query.pageSize),
});

/**
 * The REST contract existing frontends call (../shared/seeds): the DataBiz widget's
 * `/api/v2/jobs/active`, C4's `/v1/jobs…`, Novus's `/api/v1/jobs/:id` and admin routes, the OSINT
 * monitor's `/jobs/:id/logs` and `/jobs/stats`. Same token and row-level security as GraphQL:
 * every query runs as the caller's database role.
 */
export function registerRestRoutes(app: FastifyInstance, options: RestOptions): void {
  const scoped = <T>(request: FastifyRequest, fn: (db: Kysely<Database>) => Promise<T>) =>
    withIdentity(options.apiPool, requireIdentity(options.identityOf(request)), ({ db }) => fn(db));

  // --- seeds 000/001: the widget polls this every 10 s ---------------------------------------
  app.get('/api/v2/jobs/active', async (request) =>
    scoped(request, async (db) => {
      const jobs = await db
        .selectFrom('jobdeck.jobs')
        .selectAll()
        // the caller's own jobs, even for an admin: it is "my jobs" in the header
        .where(sql<boolean>`owner_id = jobdeck.current_user_id()`)
        .where((eb) =>
          eb.or([
            eb('status', 'in', ['queued', 'running', 'retrying']),
            eb.and([
              eb('created_at', '>', sql<Date>`now() - interval '1 hour'`),
              eb.or([
                eb('status', 'in', ['failed', 'cancelled']),
                eb(
                  'finished_at',
                  '>',
                  sql<Date>`now() - make_interval(secs => ${options.widgetCompletedTtlSeconds})`,
                ),
              ]),
            ]),
          ]),
        )
        .orderBy('created_at', 'desc')
        .limit(100)
        .execute();
      return jobs.map(widgetJob);
    }),
  );

  // --- seed 004: C4 ----------------------------------------------------------------------------
  app.post('/v1/jobs', async (request, reply) => {
    const body = parse(CreateJobBody, request.body, 'body');
    const job = await scoped(request, async (db) => {
      const { rows } = await sql<Job>`select * from jobdeck.enqueue_job(
          ${body.jobType}, ${JSON.stringify(body.payload)}::jsonb, ${body.priority ?? 0}::integer,
          null, ${body.maxRetries === undefined ? null : body.maxRetries + 1}::integer, null)`.execute(
        db,
      );
      return rows[0]!;
    });
    return reply.code(201).send({ jobId: job.id, message: 'Job created successfully' });
  });

  app.get('/v1/jobs/:id/status', async (request) => {
    const { id } = parse(jobIdParams, request.params, 'path');
    const job = await scoped(request, (db) => visibleJob(db, id));
    return { job: c4Job(job), progress: job.progress, ...c4Permissions(job) };
  });

  app.get('/v1/jobs', async (request) => {
    const query = parse(listQuery, request.query, 'query string');
    const { jobs, total } = await scoped(request, (db) => listPage(db, query));
    return { jobs: jobs.map(c4Job), ...paged(query, total) };
  });

  app.post('/v1/jobs/:id/cancel', async (request) => {
    const { id } = parse(jobIdParams, request.params, 'path');
    await scoped(request, async (db) => {
      const job = await visibleJob(db, id);
      if (!c4Permissions(job).canCancel)
        throw new HttpError(
          409,
          'invalid_state',
          `job ${id} is ${job.status} and cannot be cancelled`,
        );
      await sql`select jobdeck.cancel_job(${id}::uuid, null)`.execute(db);
    });
    return { message: 'Job cancelled successfully' };
  });

  app.post('/v1/jobs/:id/retry', async (request) => {
    const { id } = parse(jobIdParams, request.params, 'path');
    await scoped(request, async (db) => {
      const job = await visibleJob(db, id);
      if (!c4Permissions(job).canRetry)
        throw new HttpError(
          409,
          'invalid_state',
          job.status === 'failed'
            ? `job ${id} has used its ${job.max_attempts - 1} retries`
            : `job ${id} is ${job.status}; only failed jobs can be retried`,
        );
      await sql`select jobdeck.retry_job(${id}::uuid)`.execute(db);
    });
    return { message: 'Job retry initiated successfully' };
  });

  // --- seeds 002/003: Novus and the OSINT monitor ------------------------------------------------
  const detail = async (request: FastifyRequest) => {
    const { id } = parse(jobIdParams, request.params, 'path');
    return detailJob(await scoped(request, (db) => visibleJob(db, id)));
  };
  app.get('/api/v1/jobs/:id', detail);
  app.get('/jobs/:id', detail);

  const logsQuery = z
    .object({
      limit: wholeNumber('limit', 1, 1000).default(200),
      after: wholeNumber('after', 0, Number.MAX_SAFE_INTEGER).optional(),
    })
    .strict();
  app.get('/jobs/:id/logs', async (request) => {
    const { id } = parse(jobIdParams, request.params, 'path');
    const query = parse(logsQuery, request.query, 'query string');
    return scoped(request, async (db) => {
      await visibleJob(db, id);
      let events = db
        .selectFrom('jobdeck.job_events')
        .select(['id', 'at', 'kind', 'level', 'message', 'data', 'step', 'attempt'])
        .where('job_id', '=', id)
        .orderBy('id')
        .limit(query.limit + 1);
      if (query.after !== undefined) events = events.where('id', '>', String(query.after));
      const rows = await events.execute();
      const page = rows.slice(0, query.limit);
      return {
        jobId: id,
        logs: page.map((e) => ({ ...e, id: Number(e.id), at: e.at.toISOString() })),
        nextAfter: rows.length > query.limit ? Number(page[page.length - 1]!.id) : null,
      };
    });
  });

  const statsQuery = z
    .object({
      since: z
        .string()
        .refine((v) => !Number.isNaN(Date.parse(v)), 'since must be an ISO time')
        .optional(),
      type: z.string().min(1).max(128).optional(),
    })
    .strict();
  const stats = async (request: FastifyRequest) => {
    const query = parse(statsQuery, request.query, 'query string');
    return scoped(request, async (db) => {
      const { rows } = await sql<{ stats: unknown }>`select jobdeck.job_stats(
          coalesce(${query.since ?? null}::timestamptz, now() - interval '24 hours'), ${query.type ?? null}) as stats`.execute(
        db,
      );
      return rows[0]!.stats;
    });
  };
  app.get('/jobs/stats', stats);

  // The `downloadUrl` of an export's result: served to whoever may see that job, nobody else.
  const EXPORT_FILE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$/;
  app.get('/api/v1/exports/:file', async (request, reply) => {
    const { file } = request.params as { file: string };
    const notFound = new HttpError(404, 'not_found', `export ${file} not found`);
    if (!EXPORT_FILE.test(file) || file.includes('..')) throw notFound;
    const owned = await scoped(request, async (db) =>
      db
        .selectFrom('jobdeck.jobs')
        .select('id')
        .where(sql<boolean>`result ->> 'downloadUrl' = ${`/api/v1/exports/${file}`}`)
        .limit(1)
        .executeTakeFirst(),
    );
    if (!owned) throw notFound;
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

  // Novus admin: the organisation's jobs (row-level security scopes an admin to their org).
  app.get('/api/v1/admin/jobs', async (request) => {
    requireAdmin(requireIdentity(options.identityOf(request)));
    const query = parse(listQuery, request.query, 'query string');
    const { jobs, total } = await scoped(request, (db) => listPage(db, query));
    return { jobs: jobs.map(detailJob), ...paged(query, total) };
  });
  app.get('/api/v1/admin/jobs/stats', async (request) => {
    requireAdmin(requireIdentity(options.identityOf(request)));
    return stats(request);
  });
  app.post('/api/v1/admin/jobs/:id/retry', async (request) => {
    requireAdmin(requireIdentity(options.identityOf(request)));
    const { id } = parse(jobIdParams, request.params, 'path');
    const job = await scoped(request, async (db) => {
      const { rows } = await sql<Job>`select * from jobdeck.retry_job(${id}::uuid)`.execute(db);
      return rows[0]!;
    });
    return detailJob(job);
  });
  app.delete('/api/v1/admin/jobs/:id', async (request) => {
    requireAdmin(requireIdentity(options.identityOf(request)));
    const { id } = parse(jobIdParams, request.params, 'path');
    const job = await scoped(request, async (db) => {
      const { rows } = await sql<Job>`select * from jobdeck.cancel_job(${id}::uuid, null)`.execute(
        db,
      );
      return rows[0]!;
    });
    return detailJob(job);
  });
}
