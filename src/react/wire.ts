/**
 * What the browser receives, typed once: the REST routes' and event streams' bodies as
 * `jobdeck/react` hands them to a page. Type-only imports from the server's vocabulary
 * (statuses, categories), so there is one definition of each and nothing server-side is bundled.
 */
import type { TaskCategory, WidgetStatus } from '../jobs/categories.ts';
import type { JobStatus } from '../jobs/states.ts';

export type { JobStatus, TaskCategory, WidgetStatus };

/**
 * A job as a live page sees it: the body of `GET /v1/jobs/:id/status` and of each `event: job`
 * of the event streams (seed 004's camelCase), without the payload, with `canCancel`/`canRetry`.
 */
export interface LiveJob {
  id: string;
  organizationId: string | null;
  userId: string | null;
  jobType: string;
  status: JobStatus;
  priority: number;
  /** Retries by hand. */
  retryCount: number;
  /** Attempts beyond the first. */
  maxRetries: number;
  result: unknown;
  /** The last attempt's message while failed or retrying; else null. */
  errorMessage: string | null;
  /** 0…100. */
  progress: number;
  totalSteps: number | null;
  /** Steps done. */
  currentStep: number | null;
  startedAt: string | null;
  completedAt: string | null;
  scheduledAt: string | null;
  createdAt: string;
  updatedAt: string;
  /** Whether a cancel would be accepted now (jobdeck's one rule, docs/job-states.md). */
  canCancel: boolean;
  /** Whether a retry would be accepted now. */
  canRetry: boolean;
}

/** A batch with its aggregate progress: the body of `GET /api/v2/batches/:id`. */
export interface LiveBatch {
  id: string;
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** succeeded + failed + cancelled. */
  finished: number;
  /** floor(100 · finished / total). */
  percent: number;
  /** running until every job finished; then succeeded (all did) or completed. */
  status: 'running' | 'succeeded' | 'completed';
  onCompleteType: string | null;
  onCompleteJobId: string | null;
  cancelRequestedAt: string | null;
  createdAt: string;
  finishedAt: string | null;
}

/**
 * The DataBiz widget's job (seeds 000/001), exactly as its `useBackgroundJobs` hook types it, with
 * the seed's optional `filename`: an item of `GET /api/v2/jobs/active`.
 */
export interface BackgroundJob {
  id: string;
  /** The task type's category. */
  type: TaskCategory;
  status: WidgetStatus;
  /** 0…100. */
  progress?: number;
  filename?: string;
}
