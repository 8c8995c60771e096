import type { z } from 'zod';
import type { Job, JobStep } from '../../db/types.ts';
import type { JobStepView } from './novus-contract.ts';
import { budgetAttempts, canCancel, canRetry } from '../../jobs/states.ts';

const iso = (value: Date | null | undefined): string | null => (value ? value.toISOString() : null);

function lastError(job: Job): { message?: string; stack?: string } | null {
  const errors = job.errors as unknown as { message?: string; stack?: string }[];
  return errors.length > 0 ? (errors[errors.length - 1] ?? null) : null;
}

/**
 * Seed 004's `canCancel` / `canRetry`: jobdeck's one rule ({@link canCancel}, {@link canRetry};
 * the table in docs/job-states.md), as on every other surface.
 */
export function c4Permissions(job: Job): { canCancel: boolean; canRetry: boolean } {
  return { canCancel: canCancel(job), canRetry: canRetry(job) };
}

/**
 * A job in seed 004's camelCase, field names exactly as the C4 frontend reads them. `retryCount`
 * counts retries by hand, `maxRetries` is attempts beyond the first, `currentStep` is the number
 * of steps done, `scheduledAt` is set for jobs enqueued to run later.
 */
export function c4Job(job: Job) {
  return {
    id: job.id,
    organizationId: job.org_id,
    userId: job.owner_id,
    jobType: job.type,
    status: job.status,
    priority: job.priority,
    retryCount: job.manual_retries,
    maxRetries: job.max_attempts - 1,
    payload: job.payload,
    result: job.result,
    errorMessage:
      job.status === 'failed' || job.status === 'retrying'
        ? (lastError(job)?.message ?? null)
        : null,
    progress: job.progress,
    totalSteps: job.total_steps,
    currentStep: job.completed_steps,
    startedAt: iso(job.started_at),
    completedAt: iso(job.finished_at),
    scheduledAt: job.run_at.getTime() > job.created_at.getTime() + 1000 ? iso(job.run_at) : null,
    createdAt: iso(job.created_at),
    updatedAt: iso(job.updated_at),
    // Only on a job enqueued with dependencies (an extension): the seed's job has neither field.
    ...(job.depends_on
      ? { dependsOn: job.depends_on, onDependencyFailure: job.on_dependency_failure }
      : {}),
  };
}

/** Seeds 002/003's snake_case job detail (Novus and the OSINT monitor). */
export function detailJob(job: Job) {
  const error = lastError(job);
  const estimated =
    job.eta_at && job.started_at
      ? Math.round((job.eta_at.getTime() - job.started_at.getTime()) / 1000)
      : null;
  return {
    id: job.id,
    job_type: job.type,
    status: job.status,
    entity_type: job.related_type,
    entity_id: job.related_id,
    owner_id: job.owner_id,
    org_id: job.org_id,
    payload: job.payload,
    result: job.result,
    priority: job.priority,
    attempts: budgetAttempts(job),
    max_attempts: job.max_attempts,
    next_retry: job.status === 'retrying' ? iso(job.run_at) : null,
    error_message:
      job.status === 'failed' || job.status === 'retrying' ? (error?.message ?? null) : null,
    error_context: error,
    errors: job.errors,
    progress_percent: job.progress,
    current_step: job.current_step,
    total_steps: job.total_steps,
    completed_steps: job.completed_steps,
    created_at: iso(job.created_at),
    started_at: iso(job.started_at),
    completed_at: iso(job.finished_at),
    eta_at: iso(job.eta_at),
    estimated_duration: estimated,
    memory_usage_mb:
      job.peak_rss_bytes === null ? null : Math.round(Number(job.peak_rss_bytes) / 1048576),
    cpu_ms: job.cpu_ms === null ? null : Number(job.cpu_ms),
  };
}

/**
 * A durable step in snake_case, as `GET /api/v1/jobs/:id/steps` answers it: `result` is what the
 * step stored (its function's JSON, a wait's signal data); a step with no `completed_at` is the
 * sleep or wait the job is parked on.
 */
export function stepView(step: JobStep): z.output<typeof JobStepView> {
  return {
    name: step.name,
    position: step.position,
    kind: step.kind,
    result: step.result ?? null,
    attempt: step.attempt,
    started_at: iso(step.started_at),
    completed_at: iso(step.completed_at),
    wake_at: iso(step.wake_at),
    wait_event: step.wait_event,
    timed_out: step.timed_out,
  };
}
