import { z } from 'zod';
import { JOB_STATUSES } from '../../jobs/states.ts';
import { TASK_CATEGORIES } from '../../jobs/categories.ts';

/**
 * The REST responses, as zod schemas: the serializers are typed by them and /openapi.json is
 * generated from them, so the description cannot drift from what the routes send.
 */

/** A timestamp with its offset, as every contract writes it. */
export const time = z.iso.datetime({ offset: true });
export const json = z.unknown().describe('any JSON value');

/** An object with a whole-number count for each of `words` (a contract's statuses). */
export function countsOf<W extends string>(words: readonly W[]) {
  return z.object(
    Object.fromEntries(words.map((w) => [w, z.number().int()])) as Record<W, z.ZodNumber>,
  );
}

/** The fields seeds 002 and 003 name alike for a job, in snake_case; their schemas add the rest. */
export const snakeCaseJobFields = {
  id: z.uuid(),
  job_type: z.string(),
  entity_type: z.string().nullable(),
  entity_id: z.string().nullable(),
  result: json.nullable(),
  attempts: z
    .number()
    .int()
    .describe('attempts of the current budget: since the last manual retry, out of max_attempts'),
  max_attempts: z.number().int(),
  error_message: z.string().nullable(),
  error_context: json.nullable(),
  created_at: time,
  started_at: time.nullable(),
  completed_at: time.nullable(),
};

export const ErrorBody = z
  .object({
    error: z.string().describe('machine-readable code: invalid_request, unauthorized, not_found …'),
    message: z.string().describe('what was wrong, for people'),
  })
  .meta({ id: 'Error' });

export const WidgetJob = z
  .object({
    id: z.uuid(),
    type: z.enum(TASK_CATEGORIES).describe("the task type's category (processing: none declared)"),
    status: z.enum(['running', 'completed', 'failed']),
    progress: z.number().int().min(0).max(100),
    filename: z.string().optional(),
  })
  .meta({ id: 'WidgetJob', description: 'Seeds 000/001: an item of the header widget' });

export const C4Job = z
  .object({
    id: z.uuid(),
    organizationId: z.string().nullable(),
    userId: z.string().nullable(),
    jobType: z.string(),
    status: z.enum(JOB_STATUSES),
    priority: z.number().int(),
    retryCount: z.number().int().describe('retries by hand'),
    maxRetries: z.number().int().describe('attempts beyond the first'),
    payload: json,
    result: json.nullable(),
    errorMessage: z.string().nullable(),
    progress: z.number().int().min(0).max(100),
    totalSteps: z.number().int().nullable(),
    currentStep: z.number().int().describe('steps done'),
    startedAt: time.nullable(),
    completedAt: time.nullable(),
    scheduledAt: time.nullable(),
    createdAt: time,
    updatedAt: time,
  })
  .meta({ id: 'C4Job', description: 'Seed 004: a job, field names as the C4 frontend reads them' });

export const C4Status = z
  .object({
    job: C4Job,
    progress: z.number().int(),
    canCancel: z.boolean(),
    canRetry: z.boolean(),
  })
  .meta({ id: 'C4Status' });

export const C4Created = z
  .object({ jobId: z.uuid(), message: z.literal('Job created successfully') })
  .meta({ id: 'C4Created' });

export const Message = z.object({ message: z.string() }).meta({ id: 'Message' });

const pageFields = {
  total: z.number().int(),
  page: z.number().int(),
  pageSize: z.number().int(),
  totalPages: z.number().int(),
};

export const C4List = z.object({ jobs: z.array(C4Job), ...pageFields }).meta({ id: 'C4List' });

export const DetailJob = z
  .object({
    ...snakeCaseJobFields,
    status: z.enum(JOB_STATUSES),
    owner_id: z.string().nullable(),
    org_id: z.string().nullable(),
    payload: json,
    priority: z.number().int(),
    next_retry: time.nullable(),
    errors: z.array(json),
    progress_percent: z.number().int(),
    current_step: z.string().nullable(),
    total_steps: z.number().int().nullable(),
    completed_steps: z.number().int(),
    eta_at: time.nullable(),
    estimated_duration: z.number().int().nullable().describe('seconds'),
    memory_usage_mb: z.number().int().nullable(),
    cpu_ms: z.number().int().nullable(),
  })
  .meta({ id: 'DetailJob', description: 'Seed 003: a job in snake_case' });

export const Stats = z
  .object({
    since: time,
    at: time,
    byStatus: z.record(z.string(), z.number()),
    queue: z.record(z.string(), z.number().nullable()),
    byType: z.array(z.record(z.string(), json)),
    throughput: z.object({
      bucketSeconds: z.number(),
      perMinute: z.number(),
      series: z.array(z.record(z.string(), json)),
    }),
  })
  .loose()
  .meta({ id: 'Stats' });

export const Session = z
  .object({
    auth: z
      .enum(['application', 'token'])
      .describe(
        "application: the mounting application's session identifies callers; token: bearer tokens do",
      ),
    devSignin: z
      .boolean()
      .describe('POST /dev/token (the development sign-in) is on (JOBDECK_DEV_SIGNIN)'),
    identity: z
      .object({
        userId: z.string(),
        orgId: z.string(),
        role: z.enum(['user', 'admin']),
        permissions: z.array(z.string()).nullable().describe('null: all of the role'),
      })
      .nullable()
      .describe('null: anonymous, or refused (then `message` says why)'),
    message: z.string().optional().describe('why the credentials sent were refused'),
  })
  .meta({
    id: 'Session',
    description: 'Who the API takes the caller to be (the dashboard reads it)',
  });

export const CreateJobBody = z
  .object({
    jobType: z
      .string({ error: 'jobType is required (a string naming a task type)' })
      .min(1)
      .max(128),
    payload: z.record(z.string(), z.unknown(), 'payload must be a JSON object').default({}),
    priority: z.number().int('priority must be a whole number').optional(),
    maxRetries: z.number().int('maxRetries must be a whole number').min(0).max(24).optional(),
  })
  .strict()
  .meta({ id: 'CreateJob' });

/** A batch with its aggregate progress, as `GET /api/v2/batches/:id` answers it. */
export const BatchSchema = z
  .object({
    id: z.uuid(),
    total: z.number().int().describe('jobs in the batch'),
    succeeded: z.number().int(),
    failed: z.number().int(),
    cancelled: z.number().int(),
    finished: z.number().int().describe('succeeded + failed + cancelled'),
    percent: z.number().int().min(0).max(100).describe('floor(100 · finished / total)'),
    status: z
      .enum(['running', 'succeeded', 'completed'])
      .describe('running until every job finished; then succeeded (all did) or completed'),
    onCompleteType: z.string().nullable(),
    onCompleteJobId: z.uuid().nullable().describe('enqueued when the last job finished'),
    cancelRequestedAt: time.nullable(),
    createdAt: time,
    finishedAt: time.nullable(),
  })
  .meta({ id: 'Batch', description: 'Jobs enqueued together (enqueueBatch), with their progress' });
