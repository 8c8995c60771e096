import type { Kysely } from 'kysely';
import type { BatchRow, Database } from '../db/types.ts';
import { queryRows, type Executor } from '../db/executor.ts';
import { enqueueSpecsJson, type EnqueueSettings, type JobSpec } from '../jobs/enqueue.ts';
import { translateDatabaseError } from '../jobs/db-errors.ts';
import { isJobId } from '../jobs/ids.ts';
import { BatchNotFoundError, InvalidArgumentError } from '../errors.ts';

/** The most jobs one batch may hold (checked again by `jobdeck.enqueue_batch`). */
export const MAX_BATCH_JOBS = 10_000;

/** Options of {@link enqueueBatchOn}. */
export interface EnqueueBatchOptions {
  /** A task type enqueued once the last job finishes, with `payload` plus `{ batch: outcome }`. */
  onComplete?: string;
  /** The on-complete job's payload (a JSON object); `batch` is added to it. */
  payload?: Record<string, unknown>;
  /** The batch's owner; jobs without an `ownerId` of their own take it. */
  ownerId?: string;
  /** The batch's organisation; jobs without an `orgId` of their own take it. */
  orgId?: string;
}

/** What the on-complete job receives under `payload.batch`. */
export interface BatchOutcome {
  id: string;
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

/** A batch with its aggregate progress. */
export interface Batch {
  id: string;
  ownerId: string | null;
  orgId: string | null;
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** succeeded + failed + cancelled. */
  finished: number;
  /** Whole percent of the jobs finished (any outcome): floor(100 · finished / total). */
  percent: number;
  /** `running` while any job is unfinished, then `succeeded` (none failed or cancelled) or `completed`. */
  status: BatchStatus;
  onCompleteType: string | null;
  onCompleteJobId: string | null;
  cancelRequestedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

/** A batch's state: `running`, or finished with every job `succeeded`, or `completed` with some failed or cancelled. */
export type BatchStatus = 'running' | 'succeeded' | 'completed';

/** The public shape of a batch row, with its percentage. */
export function toBatch(row: BatchRow): Batch {
  const finished = row.succeeded + row.failed + row.cancelled;
  return {
    id: row.id,
    ownerId: row.owner_id,
    orgId: row.org_id,
    total: row.total,
    succeeded: row.succeeded,
    failed: row.failed,
    cancelled: row.cancelled,
    finished,
    percent: batchPercent(finished, row.total),
    status:
      finished < row.total ? 'running' : row.succeeded === row.total ? 'succeeded' : 'completed',
    onCompleteType: row.on_complete_type,
    onCompleteJobId: row.on_complete_job_id,
    cancelRequestedAt: row.cancel_requested_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}

/** Whole percent finished; 100 only when every job has finished. */
export function batchPercent(finished: number, total: number): number {
  return total > 0 ? Math.floor((100 * finished) / total) : 0;
}

/**
 * Enqueues `specs` as one batch on `executor` (the caller's transaction, or a pool): all jobs or
 * none. Each spec is checked as by `enqueueJobs`; dedupe keys are refused (a deduplicated spec
 * would be a job that already exists). Returns the batch.
 */
export async function enqueueBatchOn(
  executor: Executor,
  specs: readonly JobSpec[],
  options: EnqueueBatchOptions = {},
  settings: EnqueueSettings = {},
): Promise<Batch> {
  if (!Array.isArray(specs))
    throw new InvalidArgumentError('enqueueBatch expects an array of job specs');
  if (specs.length === 0) throw new InvalidArgumentError('a batch needs at least one job');
  if (specs.length > MAX_BATCH_JOBS)
    throw new InvalidArgumentError(
      `a batch holds at most ${MAX_BATCH_JOBS} jobs, got ${specs.length}`,
    );
  specs.forEach((spec, index) => {
    if (spec?.key !== undefined && spec.key !== null)
      throw new InvalidArgumentError(`jobs[${index}]: a job of a batch cannot have a dedupe key`);
    if (spec?.webhookUrl !== undefined || spec?.notifyEmail !== undefined)
      throw new InvalidArgumentError(
        `jobs[${index}]: a job of a batch cannot have webhookUrl or notifyEmail (use onComplete)`,
      );
  });
  const { onComplete, payload = {}, ownerId, orgId } = options;
  if (onComplete !== undefined && (typeof onComplete !== 'string' || onComplete === ''))
    throw new InvalidArgumentError('onComplete must be a task type');
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    throw new InvalidArgumentError('payload (of the on-complete job) must be a plain object');
  let payloadJson: string;
  try {
    payloadJson = JSON.stringify(payload);
  } catch (error) {
    throw new InvalidArgumentError(
      `payload (of the on-complete job) is not JSON-serialisable: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const body = enqueueSpecsJson(specs, settings);
  try {
    const rows = await queryRows<BatchRow>(
      executor,
      'select * from jobdeck.enqueue_batch($1::jsonb, $2, $3::jsonb, $4, $5)',
      [body, onComplete ?? null, payloadJson, ownerId ?? null, orgId ?? null],
    );
    return toBatch(rows[0]!);
  } catch (error) {
    const index = /^jobs\[(\d+)\]/.exec((error as Error).message ?? '')?.[1];
    const type =
      index === undefined && /^onComplete/.test((error as Error).message ?? '')
        ? (onComplete ?? '')
        : (specs[Number(index ?? 0)]?.type ?? '');
    throw translateDatabaseError(error, { type, hint: true }) ?? error;
  }
}

/** The batch, read with `db`'s rights. Throws BatchNotFoundError when there is none. */
export async function getBatch(db: Kysely<Database>, id: string): Promise<Batch> {
  const row = await findBatch(db, id);
  if (!row) throw new BatchNotFoundError(String(id));
  return toBatch(row);
}

/** The batch's row, or undefined when there is none (or `id` is not a uuid). */
export async function findBatch(db: Kysely<Database>, id: string): Promise<BatchRow | undefined> {
  if (!isJobId(id)) return undefined;
  return db.selectFrom('jobdeck.batches').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Cancels every unfinished job of the batch (queued and retrying at once, running ones through
 * their worker, whose finish then counts). Returns the batch as it is after the cancel.
 */
export async function cancelBatchOn(
  executor: Executor,
  id: string,
  reason?: string | null,
): Promise<Batch> {
  if (!isJobId(id)) throw new BatchNotFoundError(String(id));
  try {
    const rows = await queryRows<BatchRow>(
      executor,
      'select * from jobdeck.cancel_batch($1::uuid, $2)',
      [id, reason ?? null],
    );
    return toBatch(rows[0]!);
  } catch (error) {
    const translated = translateDatabaseError(error);
    if (translated?.name === 'JobNotFoundError') throw new BatchNotFoundError(id, { cause: error });
    throw translated ?? error;
  }
}
