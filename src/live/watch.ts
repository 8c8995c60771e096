import { getBatch, type Batch } from '../batches/batches.ts';
import type { Job } from '../db/types.ts';
import { BatchNotFoundError, JobNotFoundError } from '../errors.ts';
import { getJob } from '../jobs/repository.ts';
import { isFinished } from '../jobs/states.ts';
import { watcher, type WatchOptions } from './watch-row.ts';

/** Options of {@link watchJob}. */
export type WatchJobOptions = WatchOptions;
/** Options of {@link watchBatch}. */
export type WatchBatchOptions = WatchOptions;

/**
 * `watchJob(db, listener, id, options)` yields the job now, then again after every change, and
 * ends after yielding it finished. What it yields is always the row as read: a notification only
 * makes it read again. Subscribes before the first read, so no change between the two is missed;
 * after a lost LISTEN connection it re-reads, so a change sent while disconnected is not missed
 * either.
 */
export const watchJob = watcher<Job>({
  notFound: (id) => new JobNotFoundError(id),
  channel: (channels, id) => channels.job(id),
  read: getJob,
  fingerprint: (job) =>
    `${job.status}|${job.progress}|${job.current_step}|${job.completed_steps}|${job.attempts}|${job.updated_at.getTime()}`,
  done: (job) => isFinished(job),
});

/**
 * `watchBatch(db, listener, id, options)` yields the batch now, then again after every change of
 * its counters, and ends after yielding it finished (every job finished and, if it has one, its
 * on-complete job enqueued). As `watchJob`: subscribes before the first read, re-reads on each
 * notification and after a lost LISTEN connection, and yields each visible change once.
 */
export const watchBatch = watcher<Batch>({
  notFound: (id) => new BatchNotFoundError(id),
  channel: (channels, id) => channels.batch(id),
  read: getBatch,
  fingerprint: (batch) =>
    `${batch.succeeded}|${batch.failed}|${batch.cancelled}|${batch.onCompleteJobId}|${batch.cancelRequestedAt?.getTime()}`,
  done: (batch) => batch.status !== 'running',
});
