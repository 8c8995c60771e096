import type { Kysely } from 'kysely';
import type { Database, Job } from '../db/types.ts';
import {
  cpuUsagePercent,
  DEFAULT_QUEUE_NAME,
  memoryUsageMb,
  type UsageSample,
} from './osint-model.ts';
import type { JobStatus } from './states.ts';

/** Filters and window of {@link listJobsFiltered}; every filter is optional. */
export interface JobFilter {
  statuses?: readonly JobStatus[] | undefined;
  type?: string | undefined;
  /** Inclusive bounds of the numeric priority; null or undefined: open. */
  priorityMin?: number | null | undefined;
  priorityMax?: number | null | undefined;
  relatedId?: string | undefined;
  /** A named queue, or {@link DEFAULT_QUEUE_NAME} for jobs in none. */
  queue?: string | undefined;
  owner?: string | undefined;
  limit: number;
  offset: number;
}

/**
 * Jobs newest first, filtered (seed 003's `GET /jobs`), as many as `db`'s caller may see.
 * Offset pages, as the seed's list pages; {@link listJobs} (keyset) scales better.
 */
export async function listJobsFiltered(db: Kysely<Database>, filter: JobFilter): Promise<Job[]> {
  let query = db
    .selectFrom('jobdeck.jobs')
    .selectAll()
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(filter.limit)
    .offset(filter.offset);
  if (filter.statuses) query = query.where('status', 'in', filter.statuses);
  if (filter.type !== undefined) query = query.where('type', '=', filter.type);
  if (filter.priorityMin != null) query = query.where('priority', '>=', filter.priorityMin);
  if (filter.priorityMax != null) query = query.where('priority', '<=', filter.priorityMax);
  if (filter.relatedId !== undefined) query = query.where('related_id', '=', filter.relatedId);
  if (filter.queue !== undefined)
    query =
      filter.queue === DEFAULT_QUEUE_NAME
        ? query.where('queue', 'is', null)
        : query.where('queue', '=', filter.queue);
  if (filter.owner !== undefined) query = query.where('owner_id', '=', filter.owner);
  return query.execute();
}

/** Resource usage of the running jobs `db`'s caller may see (see {@link runningUsage}). */
export interface RunningUsage {
  running_jobs: number;
  /** Worker processes running them. */
  workers: number;
  /** Summed over worker processes: each one's highest figure among its running jobs. */
  memory_usage_mb: number | null;
  cpu_usage_percent: number | null;
}

/**
 * What the caller's running jobs use now. A job's figures are its worker process's (Node runs
 * every job of a process in it), so each process counts once: its highest memory and CPU figure
 * among the jobs it runs, summed over processes.
 */
export async function runningUsage(db: Kysely<Database>): Promise<RunningUsage> {
  const rows = await db
    .selectFrom('jobdeck.jobs')
    .select([
      'worker_id',
      'status',
      'peak_rss_bytes',
      'cpu_ms',
      'started_at',
      'finished_at',
      'heartbeat_at',
      'updated_at',
    ])
    .where('status', '=', 'running')
    .execute();
  const perWorker = new Map<string, { mb: number | null; cpu: number | null }>();
  const higher = (a: number | null, b: number | null) =>
    a === null ? b : b === null ? a : Math.max(a, b);
  for (const row of rows) {
    const key = row.worker_id ?? '';
    const seen = perWorker.get(key) ?? { mb: null, cpu: null };
    perWorker.set(key, {
      mb: higher(seen.mb, memoryUsageMb(row)),
      cpu: higher(seen.cpu, cpuUsagePercent(row as UsageSample)),
    });
  }
  const sum = (pick: (w: { mb: number | null; cpu: number | null }) => number | null) => {
    const values = [...perWorker.values()].map(pick).filter((v): v is number => v !== null);
    return values.length === 0 ? null : values.reduce((a, b) => a + b, 0);
  };
  const cpu = sum((w) => w.cpu);
  return {
    running_jobs: rows.length,
    workers: perWorker.size,
    memory_usage_mb: sum((w) => w.mb),
    cpu_usage_percent: cpu === null ? null : Math.round(cpu * 10) / 10,
  };
}
