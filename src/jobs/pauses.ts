import type { Executor } from '../db/executor.ts';
import { InvalidArgumentError } from '../errors.ts';
import { callSql } from './db-errors.ts';

/** What a pause covers: one queue, one task type, or everything. */
export type PauseTarget = { queue: string } | { type: string } | 'all';

/** The SQL name of a pause's scope (`jobdeck_private.pauses.scope`). */
export type PauseScope = 'queue' | 'type' | 'all';

/** Longest queue or task type name a pause accepts (the limit of queue names elsewhere). */
export const MAX_PAUSE_KEY_LENGTH = 128;
/** Longest pause reason. */
export const MAX_PAUSE_REASON_LENGTH = 1000;

export interface PauseOptions {
  /** Why, shown on every held job (`paused: queue "q" (<reason>)`) and by `pauses()`. */
  reason?: string | null;
  /** Also cancel the scope's running jobs (through the ordinary cancel path); default: they finish. */
  cancelRunning?: boolean;
  /** Who paused, for `pauses()`; default: the database user. */
  by?: string | null;
}

/** A pause as `pause()` and `pauses()` report it. */
export interface Pause {
  scope: PauseScope;
  /** The queue or task type; null for everything. */
  key: string | null;
  reason: string | null;
  pausedBy: string | null;
  pausedAt: Date;
}

/** What `pause()` did. */
export interface PauseResult extends Pause {
  /** Waiting jobs held now (jobs added later are held by the first worker that fetches them). */
  held: number;
  /** Running jobs asked to cancel (`cancelRunning`). */
  cancelled: number;
}

/** What `resume()` did. */
export interface ResumeResult {
  scope: PauseScope;
  key: string | null;
  /** Whether there was such a pause. */
  resumed: boolean;
  /** Held jobs queued again (jobs another pause or a concurrency limit holds stay held). */
  released: number;
}

/** A pause listed by `pauses()`, with the jobs it holds. */
export interface PauseListing extends Pause {
  held: number;
}

/**
 * Checks a pause target and returns its SQL scope and key.
 *
 * @throws InvalidArgumentError naming the field that is wrong.
 */
export function pauseScopeOf(target: PauseTarget): { scope: PauseScope; key: string | null } {
  if (target === 'all') return { scope: 'all', key: null };
  if (typeof target !== 'object' || target === null)
    throw new InvalidArgumentError(
      `pause target must be { queue }, { type } or 'all', got ${JSON.stringify(target) ?? String(target)}`,
    );
  const fields = Object.keys(target);
  if (fields.length !== 1 || (fields[0] !== 'queue' && fields[0] !== 'type'))
    throw new InvalidArgumentError(
      `pause target must have exactly one of queue or type, got ${JSON.stringify(fields)}`,
    );
  const field = fields[0] as 'queue' | 'type';
  const key = (target as Record<string, unknown>)[field];
  const label = field === 'queue' ? 'queue' : 'task type';
  if (typeof key !== 'string' || key.length < 1 || key.length > MAX_PAUSE_KEY_LENGTH)
    throw new InvalidArgumentError(
      `${label} must be a name of 1 to ${MAX_PAUSE_KEY_LENGTH} characters, got ${JSON.stringify(key) ?? String(key)}`,
    );
  return { scope: field, key };
}

function checkOptions(options: PauseOptions): void {
  const { reason, by, cancelRunning } = options;
  if (
    reason !== undefined &&
    reason !== null &&
    (typeof reason !== 'string' || reason.length < 1 || reason.length > MAX_PAUSE_REASON_LENGTH)
  )
    throw new InvalidArgumentError(
      `reason must be 1 to ${MAX_PAUSE_REASON_LENGTH} characters (or null), got ${typeof reason === 'string' ? `${reason.length} characters` : typeof reason}`,
    );
  if (
    by !== undefined &&
    by !== null &&
    (typeof by !== 'string' || by.length < 1 || by.length > 200)
  )
    throw new InvalidArgumentError('by must be 1 to 200 characters (or null)');
  if (cancelRunning !== undefined && typeof cancelRunning !== 'boolean')
    throw new InvalidArgumentError(
      `cancelRunning must be true or false, got ${String(cancelRunning)}`,
    );
}

const call = <T>(executor: Executor, text: string, values: unknown[]) =>
  callSql<T>(executor, text, values);

interface PauseJson {
  scope: PauseScope;
  key: string | null;
  reason: string | null;
  pausedBy: string | null;
  pausedAt: string;
  held: number;
  cancelled: number;
}

/**
 * Pauses a queue, a task type or everything, across every worker process and across restarts
 * (a row in the database: `jobdeck.pause_queue` / `pause_task_type` / `pause_all`). No job it
 * covers starts until {@link resumeOn}: waiting jobs stay `queued`, held with the reason
 * `paused: …` on the row; running ones finish unless `cancelRunning`. Pausing again updates the
 * reason.
 *
 * @throws InvalidArgumentError naming what is wrong; nothing is changed then.
 */
export async function pauseOn(
  executor: Executor,
  target: PauseTarget,
  options: PauseOptions = {},
): Promise<PauseResult> {
  const { scope, key } = pauseScopeOf(target);
  checkOptions(options);
  const args = [options.reason ?? null, options.cancelRunning ?? false, options.by ?? null];
  const rows =
    scope === 'all'
      ? await call<{ r: PauseJson }>(executor, 'select jobdeck.pause_all($1, $2, $3) as r', args)
      : await call<{ r: PauseJson }>(
          executor,
          scope === 'queue'
            ? 'select jobdeck.pause_queue($1, $2, $3, $4) as r'
            : 'select jobdeck.pause_task_type($1, $2, $3, $4) as r',
          [key, ...args],
        );
  const r = rows[0]!.r;
  return { ...r, pausedAt: new Date(r.pausedAt) };
}

/**
 * Ends a pause: its held jobs are queued again in the same transaction and start at once (jobs
 * another pause or a concurrency limit still holds stay held). Resuming what is not paused
 * changes nothing (`resumed: false`).
 *
 * @throws InvalidArgumentError naming what is wrong with the target.
 */
export async function resumeOn(executor: Executor, target: PauseTarget): Promise<ResumeResult> {
  const { scope, key } = pauseScopeOf(target);
  const rows =
    scope === 'all'
      ? await call<{ r: ResumeResult }>(executor, 'select jobdeck.resume_all() as r', [])
      : await call<{ r: ResumeResult }>(
          executor,
          scope === 'queue'
            ? 'select jobdeck.resume_queue($1) as r'
            : 'select jobdeck.resume_task_type($1) as r',
          [key],
        );
  return rows[0]!.r;
}

/** What is paused now, oldest first, with the number of jobs each pause holds. */
export async function listPausesOn(executor: Executor): Promise<PauseListing[]> {
  const rows = await call<{
    scope: PauseScope;
    key: string | null;
    reason: string | null;
    paused_by: string | null;
    paused_at: Date;
    held: string;
  }>(executor, 'select * from jobdeck.pauses()', []);
  return rows.map((r) => ({
    scope: r.scope,
    key: r.key,
    reason: r.reason,
    pausedBy: r.paused_by,
    pausedAt: r.paused_at,
    held: Number(r.held),
  }));
}

/** How a pause reads in messages: `queue "q"`, `task type "x"`, `everything`. */
export function describePause(pause: { scope: PauseScope; key: string | null }): string {
  if (pause.scope === 'all') return 'everything';
  return `${pause.scope === 'queue' ? 'queue' : 'task type'} "${pause.key ?? ''}"`;
}
