/**
 * Task categories: what kind of work a task type does, in the DataBiz widget's words (seeds
 * 000/001: `type: "import" | "export" | "validation" | "processing"`). A task declares its
 * category (`defineTask({ category: 'import' })`); the widget answers the category as a job's
 * `type`, while the job type itself stays in every other answer. No imports but types: task.ts,
 * the registry and the browser's `jobdeck/react` load this file.
 */

import type { JobStatus } from './states.ts';

/** Every category a task may declare. */
export const TASK_CATEGORIES = ['import', 'export', 'validation', 'processing'] as const;

/** One of {@link TASK_CATEGORIES}. */
export type TaskCategory = (typeof TASK_CATEGORIES)[number];

/** The category of a task that declares none (or of a type no process has registered). */
export const DEFAULT_TASK_CATEGORY: TaskCategory = 'processing';

/** True for one of {@link TASK_CATEGORIES}. */
export function isTaskCategory(value: unknown): value is TaskCategory {
  return (TASK_CATEGORIES as readonly unknown[]).includes(value);
}

/** A stored category (null: the task declared none), or {@link DEFAULT_TASK_CATEGORY}. */
export function categoryOrDefault(category: string | null | undefined): TaskCategory {
  return isTaskCategory(category) ? category : DEFAULT_TASK_CATEGORY;
}

/** The DataBiz widget's statuses (seeds 000/001): in flight, done, or not. */
export type WidgetStatus = 'running' | 'completed' | 'failed';

/**
 * jobdeck's statuses in the widget's words, the one mapping of this contract: unfinished ones are
 * `running`, a success `completed`, a failure or a cancel `failed`.
 */
export const WIDGET_STATUS: Readonly<Record<JobStatus, WidgetStatus>> = {
  queued: 'running',
  running: 'running',
  retrying: 'running',
  succeeded: 'completed',
  failed: 'failed',
  cancelled: 'failed',
};
