import { z } from 'zod';
import type { Job } from '../../db/types.ts';
import type { JobStats } from '../../jobs/control.ts';
import { budgetAttempts, JOB_STATUSES } from '../../jobs/states.ts';
import { vocabulary } from '../../jobs/vocabulary.ts';
import { countsOf, json, snakeCaseJobFields, time } from './schemas.ts';

/**
 * Seed 002 (Novus, a FastAPI backend): its vocabulary, priority direction and snake_case shapes,
 * defined once for its routes (src/http/rest/novus.ts). Its `Job` model names the fields.
 */

/**
 * Novus's `JobStatus` (pending, in_progress, completed, failed) and jobdeck's statuses in its
 * words, the one mapping of this contract. A job waiting for its next attempt is `pending` again
 * with `next_retry` set, as Novus's own retries are; a cancelled job is `failed` with
 * `error_message` "cancelled" (Novus has no cancelled status).
 */
const status = vocabulary(JOB_STATUSES, {
  pending: ['waiting', 'queued', 'retrying'],
  in_progress: ['running'],
  completed: ['succeeded'],
  failed: ['failed', 'cancelled'],
});
export const NOVUS_STATUSES = status.values;
export type NovusStatus = (typeof NOVUS_STATUSES)[number];
export const NOVUS_STATUS = status.of;
/** The jobdeck statuses a Novus status stands for (a `?status=` filter). */
export const jobdeckStatusesOf = status.from;

/**
 * Novus's priority: higher runs first. jobdeck's runs the other way (lower first: urgent -20,
 * normal 0, low 10), so the boundary negates it: jobdeck -20 is Novus 20, jobdeck 10 is Novus -10.
 */
export function novusPriority(priority: number): number {
  return priority === 0 ? 0 : -priority;
}

const counts = countsOf(NOVUS_STATUSES);

export const NovusJob = z
  .object({
    ...snakeCaseJobFields,
    status: z.enum(NOVUS_STATUSES),
    payload: json.nullable(),
    priority: z.number().int().describe('higher is processed first'),
    next_retry: time.nullable().describe('when a pending job is retried'),
    updated_at: time,
  })
  .meta({ id: 'NovusJob', description: "Seed 002: a job, fields as Novus's Job model names them" });

/** jobdeck's addition beside the Novus job: a durable step (see stepView in serialize.ts). */
export const JobStepView = z
  .object({
    name: z.string(),
    position: z.number().int(),
    kind: z.enum(['run', 'sleep', 'wait']),
    result: json.nullable().describe("the step's stored JSON result; a wait's signal data"),
    attempt: z.number().int(),
    started_at: time.nullable(),
    completed_at: time.nullable().describe('null: the sleep or wait the job is parked on'),
    wake_at: time.nullable(),
    wait_event: z.string().nullable(),
    timed_out: z.boolean(),
  })
  .meta({ id: 'JobStep', description: 'A durable step of a job (ctx.step, sleep, waitFor)' });

export const JobStepList = z
  .object({ job_id: z.string(), steps: z.array(JobStepView) })
  .meta({ id: 'JobStepList', description: "A job's durable steps, in order" });

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

/** Counts by jobdeck status, added up by Novus status. */
export const novusCounts = status.tally;

/** `jobdeck.job_stats()` in Novus's words (see {@link NovusJobStats}). */
export function novusStats(stats: JobStats): z.output<typeof NovusJobStats> {
  const byStatus = novusCounts(stats.byStatus);
  return {
    total: Object.values(byStatus).reduce((a, b) => a + b, 0),
    by_status: byStatus,
    by_type: Object.fromEntries(stats.byType.map((t) => [t.type, novusCounts(t)])),
  };
}
