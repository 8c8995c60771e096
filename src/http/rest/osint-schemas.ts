import { z } from 'zod';
import { OSINT_LOG_LEVELS, OSINT_PRIORITIES, OSINT_STATUSES } from '../../jobs/osint-model.ts';
import type { Operation } from '../openapi.ts';
import { queryParam, uuidPathParam } from '../openapi-params.ts';
import { countsOf, json, time } from './schemas.ts';

/**
 * Seed 003's (the OSINT monitor's) responses as zod schemas, field names and enum values as the
 * seed's `Job` and `JobLog` models write them; /openapi.json is generated from them, and
 * OSINT_OPERATIONS lists its routes there.
 */

const status = z.enum(OSINT_STATUSES);

export const OsintJob = z
  .object({
    id: z.uuid(),
    job_type: z.string().describe("the task type's name (web_scraping, entity_extraction …)"),
    subject_id: z.string().nullable().describe('the record the job is about (its related id)'),
    status,
    progress_percent: z.number().int().min(0).max(100),
    current_step: z.string().nullable(),
    total_steps: z.number().int().nullable(),
    completed_steps: z.number().int(),
    priority: z.enum(OSINT_PRIORITIES),
    created_at: time,
    started_at: time.nullable(),
    completed_at: time.nullable(),
    estimated_duration: z.number().int().nullable().describe('seconds'),
    memory_usage_mb: z.number().int().nullable(),
    cpu_usage_percent: z.number().nullable(),
    result_data: json.nullable(),
    error_message: z.string().nullable(),
    error_traceback: z.string().nullable(),
    retry_count: z.number().int(),
    max_retries: z.number().int(),
    created_by: z.string(),
    worker_id: z.string().nullable(),
    queue_name: z.string(),
  })
  .strict()
  .meta({ id: 'OsintJob', description: "Seed 003: a job, as the seed's Job model writes it" });

export const OsintJobLog = z
  .object({
    id: z.uuid(),
    job_id: z.uuid(),
    level: z.enum(OSINT_LOG_LEVELS),
    message: z.string(),
    timestamp: time,
    step_name: z.string().nullable(),
    data: json.nullable(),
  })
  .strict()
  .meta({ id: 'OsintJobLog', description: "Seed 003: a log line, as the seed's JobLog writes it" });

const byStatus = countsOf(OSINT_STATUSES);

export const OsintStats = z
  .object({
    since: time.describe('finished jobs count from here'),
    at: time,
    total_jobs: z.number().int(),
    jobs_by_status: byStatus.describe('unfinished jobs now, finished ones since `since`'),
    jobs_by_type: z.record(z.string(), byStatus),
    queue_status: z.object({
      queue_depth: z.number().int().describe('jobs waiting (ready, scheduled or held)'),
      ready: z.number().int(),
      scheduled: z.number().int(),
      held: z.number().int().describe('waiting for their organisation’s concurrency cap'),
      oldest_ready_age_seconds: z.number().nullable(),
      throughput_per_minute: z.number(),
    }),
    resource_usage: z.object({
      running_jobs: z.number().int(),
      workers: z.number().int().describe('worker processes running them'),
      memory_usage_mb: z.number().int().nullable(),
      cpu_usage_percent: z.number().nullable().describe('percent of one core'),
    }),
  })
  .strict()
  .meta({ id: 'OsintStats', description: 'Seed 003: queue status and resource usage' });

export const CancelBody = z
  .object({ reason: z.string('reason must be a string').max(1000).optional() })
  .strict()
  .meta({ id: 'OsintCancel' });

const jobIdParam = uuidPathParam('job_id');
const query = queryParam;

/** Seed 003's routes in /openapi.json. */
export const OSINT_OPERATIONS: Record<string, Record<string, Operation>> = {
  '/jobs': {
    get: {
      summary: 'List jobs with filtering, newest first (seed 003)',
      tags: ['osint'],
      parameters: [
        query('status', { type: 'string', enum: [...OSINT_STATUSES] }, 'only this status'),
        query('job_type', { type: 'string' }, 'only this job type'),
        query('priority', { type: 'string', enum: [...OSINT_PRIORITIES] }, 'only this priority'),
        query('subject_id', { type: 'string' }, 'only jobs about this subject'),
        query('queue_name', { type: 'string' }, 'only this queue ("default": no named queue)'),
        query('created_by', { type: 'string' }, 'only jobs of this user'),
        query('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, 'at most'),
        query('offset', { type: 'integer', minimum: 0, default: 0 }, 'jobs to skip'),
      ],
      responses: { 200: 'OsintJob[]', 400: 'Error', 401: 'Error' },
    },
  },
  '/jobs/{job_id}': {
    get: {
      summary: 'Get specific job details (seed 003)',
      tags: ['osint'],
      parameters: [jobIdParam],
      responses: { 200: 'OsintJob', 400: 'Error', 401: 'Error', 404: 'Error' },
    },
  },
  '/jobs/{job_id}/cancel': {
    post: {
      summary: 'Cancel a pending or running job (seed 003); body `{"reason"}` optional',
      tags: ['osint'],
      parameters: [jobIdParam],
      responses: { 200: 'OsintJob', 400: 'Error', 401: 'Error', 404: 'Error', 409: 'Error' },
    },
  },
  '/jobs/{job_id}/retry': {
    post: {
      summary: 'Retry a failed or cancelled job (seed 003)',
      tags: ['osint'],
      parameters: [jobIdParam],
      responses: { 200: 'OsintJob', 400: 'Error', 401: 'Error', 404: 'Error', 409: 'Error' },
    },
  },
  '/jobs/{job_id}/logs': {
    get: {
      summary: 'Get job execution logs, oldest first (seed 003)',
      tags: ['osint'],
      parameters: [
        jobIdParam,
        query('level', { type: 'string', enum: [...OSINT_LOG_LEVELS] }, 'only this level'),
        query('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 1000 }, 'at most'),
        query('offset', { type: 'integer', minimum: 0, default: 0 }, 'lines to skip'),
      ],
      responses: { 200: 'OsintJobLog[]', 400: 'Error', 401: 'Error', 404: 'Error' },
    },
  },
  '/jobs/stats': {
    get: {
      summary: 'Get queue and system statistics of the jobs the caller may see (seed 003)',
      tags: ['osint'],
      parameters: [
        query('since', { type: 'string', format: 'date-time' }, 'window start (default 24 h ago)'),
        query('job_type', { type: 'string' }, 'only this job type'),
      ],
      responses: { 200: 'OsintStats', 400: 'Error', 401: 'Error' },
    },
  },
};
