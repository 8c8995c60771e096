import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { enqueueGraphAsCaller } from '../../jobs/graph.ts';
import { DEPENDENCY_FAILURE_POLICIES, JOB_STATUSES } from '../../jobs/states.ts';
import { parse, type Scoped } from './requests.ts';

/** One job of a `POST /api/v2/job-graphs` body: what an API caller may set. */
const GraphJob = z
  .object({
    type: z.string('type is required (a string naming a task type)').min(1).max(128),
    payload: z.record(z.string(), z.unknown(), 'payload must be a JSON object').optional(),
    priority: z
      .number('priority must be a number')
      .int('priority must be a whole number')
      .min(-20, 'priority must be from -20 (urgent) to 10 (low)')
      .max(10, 'priority must be from -20 (urgent) to 10 (low)')
      .optional(),
    runAt: z.iso.datetime({ offset: true, error: 'runAt must be an ISO 8601 time' }).optional(),
    maxAttempts: z
      .number('maxAttempts must be a number')
      .int('maxAttempts must be a whole number')
      .min(1, 'maxAttempts must be from 1 to 25')
      .max(25, 'maxAttempts must be from 1 to 25')
      .optional(),
    key: z.string('key must be a string').min(1).max(400).optional(),
    dependsOn: z
      .array(z.string().min(1).max(200), 'dependsOn must be an array of refs or job ids')
      .max(1000, 'dependsOn may list at most 1000 jobs')
      .optional()
      .describe('refs of jobs of this graph, or ids of your existing jobs'),
    onDependencyFailure: z
      .enum(DEPENDENCY_FAILURE_POLICIES, 'onDependencyFailure must be "cancel" or "run"')
      .optional(),
  })
  .strict();

/** The body of `POST /api/v2/job-graphs`: jobs by a ref of the caller's choosing. */
export const JobGraphBody = z
  .object({
    jobs: z
      .record(z.string().min(1, 'a ref is 1 to 200 characters').max(200), GraphJob)
      .refine((jobs) => Object.keys(jobs).length >= 1, 'jobs needs at least one job')
      .refine((jobs) => Object.keys(jobs).length <= 1000, 'jobs may hold at most 1000 jobs'),
  })
  .strict()
  .meta({
    id: 'JobGraphBody',
    description: 'Jobs that depend on each other, by ref: { jobs: { <ref>: { type, dependsOn } } }',
  });

/** What `POST /api/v2/job-graphs` made: each ref's job. */
export const JobGraphCreated = z
  .object({
    jobs: z.record(
      z.string(),
      z.object({ jobId: z.uuid(), type: z.string(), status: z.enum(JOB_STATUSES) }),
    ),
  })
  .meta({ id: 'JobGraphCreated' });

/**
 * `POST /api/v2/job-graphs` (issue 21, dependencies): enqueues a small graph of jobs that depend
 * on each other in one call, all or none, as the caller (`jobdeck.enqueue_job_graph`); a job
 * waits (`waiting`) until the jobs it depends on have succeeded. Cycles are refused, naming the
 * refs; every error names the job's ref.
 */
export function registerGraphRoutes(app: FastifyInstance, options: { scoped: Scoped }): void {
  app.post('/api/v2/job-graphs', async (request, reply) => {
    const body = parse(JobGraphBody, request.body ?? {}, 'body');
    const jobs = await options.scoped(request, (db) => enqueueGraphAsCaller(db, body));
    return reply.code(201).send({
      jobs: Object.fromEntries(
        Object.entries(jobs).map(([ref, job]) => [
          ref,
          { jobId: job.id, type: job.type, status: job.status },
        ]),
      ),
    });
  });
}
