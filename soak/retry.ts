import type { TaskDefinition } from '../src/jobs/task.ts';

/**
 * The soak tasks' retry policy. A kill -9 or a database restart costs the attempt that was
 * running, so every type has room for a few interrupted attempts on top of flaky's planned
 * failure; retries follow quickly so the soak does not wait on backoff.
 */
export const SOAK_RETRY = {
  maxAttempts: 6,
  backoff: ['100ms', '250ms', '500ms', '1s'],
} satisfies Pick<TaskDefinition, 'maxAttempts' | 'backoff'>;
