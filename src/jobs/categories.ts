/**
 * Task categories: what kind of work a task type does, in the DataBiz widget's words (seeds
 * 000/001: `type: "import" | "export" | "validation" | "processing"`). A task declares its
 * category (`defineTask({ category: 'import' })`); the widget answers the category as a job's
 * `type`, while the job type itself stays in every other answer. No imports: task.ts and the
 * registry load this file.
 */

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
