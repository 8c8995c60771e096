import { z } from 'zod';
import type { Job } from '../../db/types.ts';
import type { JobStats } from '../../jobs/control.ts';
import { budgetAttempts, JOB_STATUSES, type JobStatus } from '../../jobs/states.ts';

/**
 * Seed 002 (Novus, a FastAPI backend): its vocabulary, priority direction and snake_case shapes,
 * defined once for its routes (src/http/rest/novus.ts). Its `Job` model names the fields.
 */

/** Novus's `JobStatus`: pending, in_progress, completed, failed. */
export const NOVUS_STATUSES = ['pending', 'in_progress', 'completed', 'failed'] as const;
export type NovusStatus = (typeof NOVUS_STATUSES)[number];

/**
 * jobdeck's statuses in Novus's words, the one mapping of this contract. A job waiting for its
 * next attempt is `pending` again with `next_retry` set, as Novus's own retries are; a cancelled
 * job is `failed` with `error_message` "cancelled" (Novus has no cancelled status).
 */
export const NOVUS_STATUS: Readonly<Record<JobStatus, NovusStatus>> = {
  queued: 'pending',
  retrying: 'pending',
  running: 'in_progress',
  succeeded: 'completed',
  failed: 'failed',
  cancelled: 'failed',
};

/** The jobdeck statuses a Novus status stands for (a `?status=` filter). */
export function jobdeckStatusesOf(status: NovusStatus): JobStatus[] {
  return JOB_STATUSES.filter((s) => NOVUS_STATUS[s] === status);
}

/**
 * Novus's priority: higher runs first. jobdeck's runs the other way (lower first: urgent -20,
 * normal 0, low 10), so the boundary negates it: jobdeck -20 is Novus 20, jobdeck 10 is Novus -10.
 */
export function novusPriority(priority: number): number {
  return priority === 0 ? 0 : -priority;
}

const time = z.iso.datetime({ offset: true });
const json = z.unknown().describe('any JSON value');
const counts = z.object(
  Object.fromEntries(NOVUS_STATUSES.map((s) => [s, z.number().int()])) as Record<
    NovusStatus,
    z.ZodNumber
  >,
);

export const NovusJob = z
  .object({
    id: z.uuid(),
    job_type: z.string(),
    status: z.enum(NOVUS_STATUSES),
    entity_type: z.string().nullable(),
    entity_id: z.string().nullable(),
    payload: json.nullable(),
    result: json.nullable(),
    priority: z.number().int().describe('higher is processed first'),
    attempts: z
      .number()
      .int()
      .describe('attempts of the current budget: since the last manual retry, out of max_attempts'),
    max_attempts: z.number().int(),
    next_retry: time.nullable().describe('when a pending job is retried'),
    error_message: z.string().nullable(),
    error_context: json.nullable(),
    created_at: time,
    updated_at: time,
    started_at: time.nullable(),
    completed_at: time.nullable(),
  })
  .meta({ id: 'NovusJob', description: "Seed 002: a job, fields as Novus's Job model names them" });

export const NovusJobList = z
  .object({
    jobs: z.array(NovusJob),
    total: z.number().int(),
    page: z.number().int(),
    page_size: z.number().int(),
    total_pages: z.number().int(),
    limit: z.number().int(),
    offset: z.number().int(),
  })
  .meta({
    id: 'NovusJobList',
    description: 'Seed 002: a page of jobs (page/page_size or limit/offset)',
  });

export const NovusJobStats = z
  .object({
    total: z.number().int(),
    by_status: counts,
    by_type: z.record(z.string(), counts),
  })
  .meta({
    id: 'NovusJobStats',
    description:
      'Seed 002: unfinished jobs now and those finished in the window, by status and type',
  });

export const NovusCronReport = z
  .object({
    processing: z.boolean().describe('a worker is alive and takes jobs'),
    workers: z.number().int().describe('worker processes with a fresh heartbeat'),
    jobs: counts.describe('unfinished jobs now, finished ones of the last hour, all organisations'),
    message: z.string(),
  })
  .meta({ id: 'NovusCronReport', description: 'Seed 002: GET /api/v1/cron/jobs' });

const iso = (value: Date | null): string | null => (value ? value.toISOString() : null);

/** A job in Novus's words (see {@link NovusJob}). */
export function novusJob(job: Job): z.output<typeof NovusJob> {
  const errors = job.errors as unknown as Record<string, unknown>[];
  const last = errors.length > 0 ? (errors[errors.length - 1] ?? null) : null;
  const message = typeof last?.['message'] === 'string' ? last['message'] : null;
  return {
    id: job.id,
    job_type: job.type,
    status: NOVUS_STATUS[job.status],
    entity_type: job.related_type,
    entity_id: job.related_id,
    payload: job.payload,
    result: job.result,
    priority: novusPriority(job.priority),
    attempts: budgetAttempts(job),
    max_attempts: job.max_attempts,
    next_retry: job.status === 'retrying' ? iso(job.run_at) : null,
    error_message:
      job.status === 'cancelled'
        ? (message ?? 'cancelled')
        : job.status === 'failed' || job.status === 'retrying'
          ? message
          : null,
    error_context: job.status === 'succeeded' ? null : last,
    created_at: job.created_at.toISOString(),
    updated_at: job.updated_at.toISOString(),
    started_at: iso(job.started_at),
    completed_at: iso(job.finished_at),
  };
}

const zero = (): Record<NovusStatus, number> => ({
  pending: 0,
  in_progress: 0,
  completed: 0,
  failed: 0,
});

/** Counts by jobdeck status, added up by Novus status. */
export function novusCounts(
  byStatus: Partial<Record<JobStatus, number>>,
): Record<NovusStatus, number> {
  const out = zero();
  for (const status of JOB_STATUSES) out[NOVUS_STATUS[status]] += byStatus[status] ?? 0;
  return out;
}

/** `jobdeck.job_stats()` in Novus's words (see {@link NovusJobStats}). */
export function novusStats(stats: JobStats): z.output<typeof NovusJobStats> {
  const byStatus = novusCounts(stats.byStatus);
  return {
    total: Object.values(byStatus).reduce((a, b) => a + b, 0),
    by_status: byStatus,
    by_type: Object.fromEntries(stats.byType.map((t) => [t.type, novusCounts(t)])),
  };
}
