import { sql, type Kysely } from 'kysely';
import {
  ACTIVE_STATUSES,
  JOB_STATUSES,
  type Database,
  type Job,
  type JobEvent,
  type JobStatus,
} from '../db/types.ts';
import { InvalidArgumentError, JobNotFoundError } from '../errors.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a syntactically valid job id; anything else cannot name a job. */
export function isJobId(id: unknown): id is string {
  return typeof id === 'string' && UUID.test(id);
}

/**
 * Reads one job.
 * @throws JobNotFoundError when no job has this id (also for strings that are not ids at all).
 */
export async function getJob(db: Kysely<Database>, id: string): Promise<Job> {
  if (!isJobId(id)) throw new JobNotFoundError(String(id));
  const job = await db
    .selectFrom('jobdeck.jobs')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  if (!job) throw new JobNotFoundError(id);
  return job;
}

/** Filters and page of {@link listJobs}. */
export interface ListJobsOptions {
  status?: JobStatus | readonly JobStatus[];
  type?: string;
  owner?: string;
  org?: string;
  createdAfter?: Date | string;
  createdBefore?: Date | string;
  /** 1..1000, default 50. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

export interface JobPage {
  jobs: Job[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

function toDate(name: string, value: Date | string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new InvalidArgumentError(`${name} must be a valid date, got ${String(value)}`);
  return date;
}

function decodeCursor(cursor: string): { ts: string; id: string } {
  try {
    const [ts, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [
      string,
      string,
    ];
    if (typeof ts === 'string' && !Number.isNaN(Date.parse(ts)) && isJobId(id)) return { ts, id };
  } catch {
    /* fall through */
  }
  throw new InvalidArgumentError('cursor is not one this API returned');
}

/**
 * Lists jobs newest first, with keyset pagination on (created_at, id): pages stay fast however
 * deep they go, and rows added meanwhile do not shift later pages.
 */
export async function listJobs(
  db: Kysely<Database>,
  options: ListJobsOptions = {},
): Promise<JobPage> {
  const limit = options.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new InvalidArgumentError(
      `limit must be a whole number from 1 to 1000, got ${String(options.limit)}`,
    );
  }
  const statuses =
    options.status === undefined
      ? []
      : Array.isArray(options.status)
        ? options.status
        : [options.status];
  for (const status of statuses) {
    if (!JOB_STATUSES.includes(status)) {
      throw new InvalidArgumentError(
        `status must be one of ${JOB_STATUSES.join(', ')}, got ${String(status)}`,
      );
    }
  }
  const after = toDate('createdAfter', options.createdAfter);
  const before = toDate('createdBefore', options.createdBefore);
  let query = db
    .selectFrom('jobdeck.jobs')
    .selectAll()
    // Full-precision timestamp for the cursor: a JS Date would drop the microseconds.
    .select(sql<string>`to_json(created_at) #>> '{}'`.as('cursor_ts'))
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1);
  if (statuses.length > 0) query = query.where('status', 'in', statuses);
  if (options.type !== undefined) query = query.where('type', '=', options.type);
  if (options.owner !== undefined) query = query.where('owner_id', '=', options.owner);
  if (options.org !== undefined) query = query.where('org_id', '=', options.org);
  if (after) query = query.where('created_at', '>=', after);
  if (before) query = query.where('created_at', '<', before);
  if (options.cursor !== undefined) {
    const { ts, id } = decodeCursor(options.cursor);
    query = query.where(sql<boolean>`(created_at, id) < (${ts}::timestamptz, ${id}::uuid)`);
  }
  const rows = await query.execute();
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  const nextCursor =
    rows.length > limit && last
      ? Buffer.from(JSON.stringify([last.cursor_ts, last.id])).toString('base64url')
      : null;
  return { jobs: page.map(({ cursor_ts: _drop, ...job }) => job), nextCursor };
}

export interface ActiveJobsOptions {
  owner?: string;
  org?: string;
  /** 1..1000, default 100. */
  limit?: number;
}

/** Unfinished jobs (queued, running, retrying), newest first; served by a partial index. */
export async function activeJobs(
  db: Kysely<Database>,
  options: ActiveJobsOptions = {},
): Promise<Job[]> {
  const limit = options.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new InvalidArgumentError(
      `limit must be a whole number from 1 to 1000, got ${String(options.limit)}`,
    );
  }
  let query = db
    .selectFrom('jobdeck.jobs')
    .selectAll()
    .where('status', 'in', ACTIVE_STATUSES)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit);
  if (options.owner !== undefined) query = query.where('owner_id', '=', options.owner);
  if (options.org !== undefined) query = query.where('org_id', '=', options.org);
  return query.execute();
}

/** A job's log lines and transitions, oldest first, after the event id `afterId` when given. */
export async function getJobEvents(
  db: Kysely<Database>,
  jobId: string,
  options: { afterId?: string; limit?: number } = {},
): Promise<JobEvent[]> {
  if (!isJobId(jobId)) throw new JobNotFoundError(String(jobId));
  let query = db
    .selectFrom('jobdeck.job_events')
    .selectAll()
    .where('job_id', '=', jobId)
    .orderBy('id')
    .limit(options.limit ?? 1000);
  if (options.afterId !== undefined) query = query.where('id', '>', options.afterId as never);
  return query.execute();
}
