/**
 * What the browser receives, typed once: the types come from the zod schemas the REST routes are
 * typed by and /openapi.json is generated from (src/http/rest/schemas.ts), so they cannot drift.
 * Type-only imports: nothing of the server is bundled (test/unit/react-bundle.test.ts).
 */
import type { z } from 'zod';
import type { TaskCategory, WidgetStatus } from '../jobs/categories.ts';
import type { JobStatus } from '../jobs/states.ts';
import type { BatchSchema, C4Job, WidgetJob } from '../http/rest/schemas.ts';

export type { JobStatus, TaskCategory, WidgetStatus };

/**
 * A job as a live page sees it: the body of `GET /v1/jobs/:id/status` and of each `event: job`
 * of the event streams (seed 004's camelCase), without the payload, with `canCancel` (a cancel
 * would be accepted now) and `canRetry` (jobdeck's one rule, docs/job-states.md).
 */
export type LiveJob = Omit<z.output<typeof C4Job>, 'payload'> & {
  canCancel: boolean;
  canRetry: boolean;
};

/** A batch with its aggregate progress: the body of `GET /api/v2/batches/:id`. */
export type LiveBatch = z.output<typeof BatchSchema>;

/**
 * The DataBiz widget's job (seeds 000/001: `{ id, type, status, progress }`, with the seed's
 * optional `filename`): an item of `GET /api/v2/jobs/active`.
 */
export type BackgroundJob = z.output<typeof WidgetJob>;
