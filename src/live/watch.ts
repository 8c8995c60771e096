import type { Kysely } from 'kysely';
import type { Database, Job } from '../db/types.ts';
import { isJobId } from '../jobs/ids.ts';
import { getJob } from '../jobs/repository.ts';
import { isFinished } from '../jobs/states.ts';
import { JobNotFoundError } from '../errors.ts';
import { loadJobChannels, type JobChannels } from './channels.ts';
import type { PgListener } from './listener.ts';
import { watchRow } from './watch-row.ts';

/** Options of {@link watchJob}. */
export interface WatchJobOptions {
  /** Stops the watch (the generator then returns). */
  signal?: AbortSignal | undefined;
  /**
   * The database's channels (`loadJobChannels()`), when the caller keeps them; without them
   * watchJob reads the NOTIFY secret through `db` first, which needs the owner's rights.
   */
  channels?: JobChannels | undefined;
}

/**
 * Yields the job now, then again after every change, and ends after yielding it finished. What it
 * yields is always the row as read: a notification only makes it read again. Subscribes before
 * the first read, so no change between the two is missed; after a lost LISTEN connection it
 * re-reads, so a change sent while disconnected is not missed either.
 */
export async function* watchJob(
  db: Kysely<Database>,
  listener: PgListener,
  id: string,
  options: WatchJobOptions = {},
): AsyncGenerator<Job, void, undefined> {
  if (!isJobId(id)) throw new JobNotFoundError(String(id));
  const channels = options.channels ?? (await loadJobChannels(db));
  yield* watchRow<Job>({
    listener,
    channel: channels.job(id),
    read: () => getJob(db, id),
    fingerprint: (job) =>
      `${job.status}|${job.progress}|${job.current_step}|${job.completed_steps}|${job.attempts}|${job.updated_at.getTime()}`,
    done: (job) => isFinished(job),
    signal: options.signal,
  });
}
