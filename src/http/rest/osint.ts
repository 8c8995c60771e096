import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database, Job, JobEvent } from '../../db/types.ts';
import { cancelJobOn, jobStatsOn, retryJobOn } from '../../jobs/control.ts';
import { JOB_ID_PATTERN } from '../../jobs/ids.ts';
import {
  cpuUsagePercent,
  DEFAULT_QUEUE_NAME,
  jobLogLevelOf,
  jobStatusesOf,
  memoryUsageMb,
  OSINT_LOG_LEVEL_OF,
  OSINT_LOG_LEVELS,
  OSINT_PRIORITIES,
  OSINT_PRIORITY_BANDS,
  OSINT_STATUS_OF,
  OSINT_STATUSES,
  osintCounts,
  osintPriorityOf,
} from '../../jobs/osint-model.ts';
import { listJobsFiltered, runningUsage } from '../../jobs/osint-reads.ts';
import { getJob, getJobEvents } from '../../jobs/repository.ts';
import { budgetAttempts } from '../../jobs/states.ts';
import { parse, sinceParam, wholeNumber } from './requests.ts';
import { CancelBody, type OsintJob, type OsintJobLog, type OsintStats } from './osint-schemas.ts';
import type { JobView } from '../job-view.ts';

/** `created_by` of a job enqueued without an owner (cron, SQL, the server's own deliveries). */
export const SYSTEM_CREATOR = 'system';

const iso = (value: Date | null | undefined): string | null => (value ? value.toISOString() : null);

/** A job as seed 003's `Job` model writes it (the mapping tables are in docs/rest.md). */
export function osintJob(job: Job): z.output<typeof OsintJob> {
  const errors = job.errors;
  const last = errors.length > 0 ? errors[errors.length - 1] : undefined;
  const erred = job.status === 'failed' || job.status === 'retrying';
  return {
    id: job.id,
    job_type: job.type,
    subject_id: job.related_id,
    status: OSINT_STATUS_OF[job.status],
    progress_percent: job.progress,
    current_step: job.current_step,
    total_steps: job.total_steps,
    completed_steps: job.completed_steps,
    priority: osintPriorityOf(job.priority),
    created_at: job.created_at.toISOString(),
    started_at: iso(job.started_at),
    completed_at: iso(job.finished_at),
    estimated_duration:
      job.eta_at && job.started_at
        ? Math.round((job.eta_at.getTime() - job.started_at.getTime()) / 1000)
        : null,
    memory_usage_mb: memoryUsageMb(job),
    cpu_usage_percent: cpuUsagePercent(job),
    result_data: job.result ?? null,
    error_message: erred
      ? (last?.message ?? null)
      : job.status === 'cancelled'
        ? job.cancel_reason
        : null,
    error_traceback: erred ? (last?.stack ?? null) : null,
    retry_count: Math.max(budgetAttempts(job) - 1, 0),
    max_retries: job.max_attempts - 1,
    created_by: job.owner_id ?? SYSTEM_CREATOR,
    worker_id: job.worker_id,
    queue_name: job.queue ?? DEFAULT_QUEUE_NAME,
  };
}

/**
 * A job event's number as a UUID, since the seed's `JobLog.id` is one: RFC 9562 version 8 (the
 * custom layout), the number in the last 48 bits. Stable and unique, as the numbers are.
 */
export function logLineUuid(eventId: string | number): string {
  const hex = BigInt(eventId).toString(16).padStart(12, '0');
  return `00000000-0000-8000-8000-${hex}`;
}

/** A log line as seed 003's `JobLog` writes it. */
export function osintJobLog(event: JobEvent): z.output<typeof OsintJobLog> {
  return {
    id: logLineUuid(event.id),
    job_id: event.job_id,
    level: OSINT_LOG_LEVEL_OF[event.level],
    message: event.message,
    timestamp: event.at.toISOString(),
    step_name: event.step,
    data: event.data ?? null,
  };
}

const count = (name: string, min: number, max: number, fallback: number) =>
  wholeNumber(name, min, max).default(fallback);

/** One of the seed's enum values, in any letter case. */
const seedEnum = <T extends string>(name: string, values: readonly [T, ...T[]]) =>
  z
    .string()
    .transform((v) => v.toUpperCase())
    .pipe(z.enum(values, `${name} must be one of ${values.join(', ')}`));

const text = (name: string) =>
  z.string().min(1, `${name} must not be empty`).max(200, `${name} is longer than 200 characters`);

const listQuery = z
  .object({
    status: seedEnum('status', OSINT_STATUSES).optional(),
    job_type: text('job_type').optional(),
    priority: seedEnum('priority', OSINT_PRIORITIES).optional(),
    subject_id: text('subject_id').optional(),
    queue_name: text('queue_name').optional(),
    created_by: text('created_by').optional(),
    limit: count('limit', 1, 1000, 100),
    offset: count('offset', 0, 1_000_000, 0),
  })
  .strict();

const logsQuery = z
  .object({
    level: seedEnum('level', OSINT_LOG_LEVELS).optional(),
    limit: count('limit', 1, 1000, 1000),
    offset: count('offset', 0, 1_000_000, 0),
  })
  .strict();

const statsQuery = z
  .object({
    since: sinceParam.optional(),
    job_type: text('job_type').optional(),
  })
  .strict();

const jobParams = z.object({
  job_id: z.string().regex(JOB_ID_PATTERN, 'job_id must be a job id (a UUID)'),
});

/** What the OSINT routes need: a function running a read or write as the request's caller. */
export interface OsintRouteOptions {
  scoped<T>(request: FastifyRequest, fn: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  /** What the request's caller is shown of a job (stacks for admins, signed download links). */
  viewOf(request: FastifyRequest): JobView;
}

/**
 * Seed 003's routes, exactly as its "API Endpoints" list them: `GET /jobs`, `GET /jobs/{job_id}`,
 * `POST /jobs/{job_id}/cancel`, `POST /jobs/{job_id}/retry`, `GET /jobs/{job_id}/logs`,
 * `GET /jobs/stats` (the websocket is src/http/job-socket.ts). Every read runs as the caller.
 */
export function registerOsintRoutes(app: FastifyInstance, options: OsintRouteOptions): void {
  const { scoped } = options;
  const shown = (request: FastifyRequest, job: Job) => osintJob(options.viewOf(request)(job));
  const jobIdOf = (request: FastifyRequest) => parse(jobParams, request.params, 'path').job_id;

  app.get('/jobs', async (request) => {
    const q = parse(listQuery, request.query, 'query string');
    const band = q.priority ? OSINT_PRIORITY_BANDS[q.priority] : undefined;
    const jobs = await scoped(request, (db) =>
      listJobsFiltered(db, {
        statuses: q.status ? jobStatusesOf(q.status) : undefined,
        type: q.job_type,
        priorityMin: band?.min,
        priorityMax: band?.max,
        relatedId: q.subject_id,
        queue: q.queue_name,
        owner: q.created_by,
        limit: q.limit,
        offset: q.offset,
      }),
    );
    return jobs.map((job) => shown(request, job));
  });

  app.get('/jobs/stats', async (request): Promise<z.output<typeof OsintStats>> => {
    const q = parse(statsQuery, request.query, 'query string');
    // One after the other: both run on the request's one connection.
    const [stats, usage] = await scoped(
      request,
      async (db) =>
        [
          await jobStatsOn(db, { since: q.since, type: q.job_type }),
          await runningUsage(db),
        ] as const,
    );
    const byStatus = osintCounts(stats.byStatus);
    const byType = Object.fromEntries(stats.byType.map((row) => [row.type, osintCounts(row)]));
    return {
      since: new Date(stats.since).toISOString(),
      at: new Date(stats.at).toISOString(),
      total_jobs: Object.values(byStatus).reduce((a, b) => a + b, 0),
      jobs_by_status: byStatus,
      jobs_by_type: byType,
      queue_status: {
        queue_depth: stats.queue.depth,
        ready: stats.queue.ready,
        scheduled: stats.queue.scheduled,
        held: stats.queue.held,
        oldest_ready_age_seconds:
          stats.queue.oldestReadyAgeMs === null ? null : stats.queue.oldestReadyAgeMs / 1000,
        throughput_per_minute: stats.throughput.perMinute,
      },
      resource_usage: usage,
    };
  });

  app.get('/jobs/:job_id', async (request) => {
    const id = jobIdOf(request);
    return shown(request, await scoped(request, (db) => getJob(db, id)));
  });

  app.post('/jobs/:job_id/cancel', async (request) => {
    const id = jobIdOf(request);
    const { reason } = parse(CancelBody, request.body, 'body');
    return shown(request, await scoped(request, (db) => cancelJobOn(db, id, reason)));
  });

  app.post('/jobs/:job_id/retry', async (request) => {
    const id = jobIdOf(request);
    return shown(request, await scoped(request, (db) => retryJobOn(db, id)));
  });

  app.get('/jobs/:job_id/logs', async (request) => {
    const id = jobIdOf(request);
    const q = parse(logsQuery, request.query, 'query string');
    return scoped(request, async (db) => {
      await getJob(db, id); // 404 for a job the caller may not see, rather than no lines
      const events = await getJobEvents(db, id, {
        limit: q.limit,
        offset: q.offset,
        level: q.level ? jobLogLevelOf(q.level) : undefined,
      });
      return events.map(osintJobLog);
    });
  });
}
