import { sql, type Kysely } from 'kysely';
import type { Database, Job, JobEvent, JobEventLevel, JobStep } from '../db/types.ts';
import { InvalidArgumentError, JobNotFoundError } from '../errors.ts';
import { isJobId } from './ids.ts';
import { ACTIVE_STATUSES, JOB_STATUSES, isJobStatus, type JobStatus } from './states.ts';

/** Reads one job, or undefined when none has this id (or `db`'s caller may not see it). */
export async function findJob(db: Kysely<Database>, id: string): Promise<Job | undefined> {
  if (!isJobId(id)) return undefined;
  return db.selectFrom('jobdeck.jobs').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A job's status and progress and whose it is: what a change announcement is checked against. */
export type JobState = Pick<Job, 'id' | 'status' | 'progress' | 'owner_id' | 'org_id'>;

/** Reads the state of each of these jobs that exists (in no particular order). */
export async function readJobStates(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<JobState[]> {
  const valid = ids.filter(isJobId);
  if (valid.length === 0) return [];
  return (
    db
      .selectFrom('jobdeck.jobs')
      .select(['id', 'status', 'progress', 'owner_id', 'org_id'])
      // One statement text whatever the number of ids (`in (…)` would make one per count).
      .where(sql<boolean>`id = any(${valid}::uuid[])`)
      .execute()
  );
}

/**
 * Reads one job.
 * @throws JobNotFoundError when no job has this id (also for strings that are not ids at all).
 */
export async function getJob(db: Kysely<Database>, id: string): Promise<Job> {
  const job = await findJob(db, id);
  if (!job) throw new JobNotFoundError(String(id));
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
    if (!isJobStatus(status)) {
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
    // Every unfinished job is in jobs_live (migration 000024); a literal, so the planner skips
    // the history partitions when it plans, not only when it runs.
    .where(sql<boolean>`purge_on = 'infinity'`)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit);
  if (options.owner !== undefined) query = query.where('owner_id', '=', options.owner);
  if (options.org !== undefined) query = query.where('org_id', '=', options.org);
  return query.execute();
}

/**
 * A job's log lines and transitions, oldest first: after the event id `afterId`, past the first
 * `offset` and of one `level` when given.
 */
export async function getJobEvents(
  db: Kysely<Database>,
  jobId: string,
  options: { afterId?: string; limit?: number; offset?: number; level?: JobEventLevel } = {},
): Promise<JobEvent[]> {
  if (!isJobId(jobId)) throw new JobNotFoundError(String(jobId));
  let query = db
    .selectFrom('jobdeck.job_events')
    .selectAll()
    .where('job_id', '=', jobId)
    .orderBy('id')
    .limit(options.limit ?? 1000);
  if (options.afterId !== undefined) query = query.where('id', '>', options.afterId as never);
  if (options.offset) query = query.offset(options.offset);
  if (options.level !== undefined) query = query.where('level', '=', options.level);
  return query.execute();
}

/**
 * A job's durable steps in order (ctx.step with a function, sleeps, waits), as the caller may see
 * them (row-level security: the steps of jobs they may see).
 */
export async function getJobSteps(db: Kysely<Database>, jobId: string): Promise<JobStep[]> {
  if (!isJobId(jobId)) throw new JobNotFoundError(String(jobId));
  return db
    .selectFrom('jobdeck.job_steps')
    .selectAll()
    .where('job_id', '=', jobId)
    .orderBy('position')
    .orderBy('started_at')
    .execute();
}

/** Filters and page of {@link listJobsByPage}. */
export interface JobPageQuery {
  /** From 1. */
  page: number;
  pageSize: number;
  status?: JobStatus | undefined;
  /** Any of these statuses (a contract whose one status stands for several of jobdeck's). */
  statuses?: readonly JobStatus[] | undefined;
  type?: string | undefined;
  /** Jobs to skip, instead of `(page - 1) * pageSize` (seed 002's `limit`/`offset`). */
  offset?: number | undefined;
}

/**
 * One numbered page of jobs, newest first, with the total: the REST contracts' `page`/`pageSize`
 * (seeds 002 and 004). {@link listJobs}'s keyset pages scale better; these are what those
 * frontends page with.
 */
export async function listJobsByPage(
  db: Kysely<Database>,
  query: JobPageQuery,
): Promise<{ jobs: Job[]; total: number }> {
  let base = db.selectFrom('jobdeck.jobs');
  if (query.status) base = base.where('status', '=', query.status);
  if (query.statuses) base = base.where('status', 'in', query.statuses);
  if (query.type) base = base.where('type', '=', query.type);
  const [jobs, count] = await Promise.all([
    base
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(query.pageSize)
      .offset(query.offset ?? (query.page - 1) * query.pageSize)
      .execute(),
    base.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { jobs, total: Number(count.n) };
}

/**
 * The signed-in caller's own jobs (even an admin's: "my jobs") that are unfinished, or finished
 * within the last hour: failed and cancelled ones for the whole hour, succeeded ones for
 * `succeededForSeconds`. Newest first, at most 100: the header widget's list (seeds 000/001), each
 * with its task type's declared category (null: none declared).
 */
export async function listRecentJobsOfCaller(
  db: Kysely<Database>,
  options: { succeededForSeconds: number },
): Promise<(Job & { category: string | null })[]> {
  // A function (sql/api/recent_jobs_of_caller.sql) for its plan cached per connection: the read
  // spans every partition of jobs, which costs more to plan than to run. The task type's declared
  // category (sql/api/task_category.sql): task_types is the owner's.
  const { rows } = await sql<Job & { category: string | null }>`
    select j.*, jobdeck.task_category(j.type) as category
      from jobdeck.recent_jobs_of_caller(${options.succeededForSeconds}::int) j`.execute(db);
  return rows;
}

/** The id of a job whose result links to `url` (an export's `downloadUrl`), or null. */
export async function findJobIdByDownloadUrl(
  db: Kysely<Database>,
  url: string,
): Promise<string | null> {
  const row = await db
    .selectFrom('jobdeck.jobs')
    .select('id')
    // a jsonb path: the builder has no operator for it
    .where(sql<boolean>`result ->> 'downloadUrl' = ${url}`)
    .limit(1)
    .executeTakeFirst();
  return row?.id ?? null;
}
