import type { FastifyInstance } from 'fastify';
import type { Job } from '../../db/types.ts';
import { listRecentJobsOfCaller } from '../../jobs/repository.ts';
import { WIDGET_STATUS, categoryOrDefault } from '../../jobs/categories.ts';
import type { WidgetJob } from './schemas.ts';
import type { z } from 'zod';
import type { Scoped } from './requests.ts';

/**
 * A `GET /api/v2/jobs/active` item: `type` is the task type's declared category (import, export,
 * validation, processing; `processing` for a task that declares none), the job type itself stays
 * in every other answer. `filename` when the payload has one (the seed's "nice to have").
 */
export function widgetJob(job: Job & { category: string | null }): z.output<typeof WidgetJob> {
  const filename = (job.payload as Record<string, unknown> | null)?.['filename'];
  return {
    id: job.id,
    type: categoryOrDefault(job.category),
    status: WIDGET_STATUS[job.status],
    progress: job.progress,
    ...(typeof filename === 'string' ? { filename } : {}),
  };
}

/**
 * Seeds 000/001: the DataBiz header widget (`useBackgroundJobs`) polls this every 10 s. The
 * caller's own recent jobs, a bare JSON array (`[]` when there are none).
 */
export function registerDatabizRoutes(
  app: FastifyInstance,
  options: { scoped: Scoped; widgetCompletedTtlSeconds: number },
): void {
  app.get('/api/v2/jobs/active', async (request) =>
    options.scoped(request, async (db) => {
      const jobs = await listRecentJobsOfCaller(db, {
        succeededForSeconds: options.widgetCompletedTtlSeconds,
      });
      return jobs.map(widgetJob);
    }),
  );
}
