import { parseCrontab } from 'graphile-worker';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/types.ts';

/**
 * What the dashboard's operator views read (queues, worker processes, cron schedules): figures of
 * the whole deployment, so they are meant for the owner's connection behind an operator check
 * (src/graphql/operations.ts), as pauses are.
 */

/** One worker process, as its heartbeat last wrote it (`jobdeck_private.workers`). */
export interface WorkerProcess {
  id: string;
  hostname: string;
  pid: number;
  concurrency: number;
  taskTypes: string[];
  startedAt: Date;
  heartbeatAt: Date;
  stoppingAt: Date | null;
  rssBytes: number | null;
  /** Ids of the jobs it runs now. */
  runningJobIds: string[];
}

/** The worker processes, most recently started first. */
export async function listWorkers(db: Kysely<Database>): Promise<WorkerProcess[]> {
  const rows = await db
    .selectFrom('jobdeck_private.workers as w')
    .select([
      'w.id',
      'w.hostname',
      'w.pid',
      'w.concurrency',
      'w.task_types',
      'w.started_at',
      'w.heartbeat_at',
      'w.stopping_at',
      'w.rss_bytes',
    ])
    .select((eb) =>
      eb
        .selectFrom('jobdeck.jobs as j')
        .whereRef('j.worker_id', '=', 'w.id')
        .where('j.status', '=', 'running')
        .select(
          sql<string[]>`coalesce(array_agg(j.id::text order by j.started_at), '{}')`.as('ids'),
        )
        .as('running_job_ids'),
    )
    .orderBy('w.started_at', 'desc')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    hostname: r.hostname,
    pid: r.pid,
    concurrency: r.concurrency,
    taskTypes: r.task_types,
    startedAt: r.started_at,
    heartbeatAt: r.heartbeat_at,
    stoppingAt: r.stopping_at,
    rssBytes: r.rss_bytes === null ? null : Number(r.rss_bytes),
    runningJobIds: r.running_job_ids ?? [],
  }));
}

/** A queue: its unfinished jobs now, its limits and pause, and what finished in the last hour. */
export interface QueueSummary {
  /** `default` for the jobs of no named queue. */
  name: string;
  /** Waiting to start (queued or retrying), held ones included. */
  waiting: number;
  running: number;
  /** Waiting jobs a limit or a pause holds. */
  held: number;
  paused: boolean;
  pauseReason: string | null;
  /** At most this many run at once (`set_queue_concurrency`); null: no limit. */
  maxRunning: number | null;
  /** At most `maxStarts` start per `ratePeriodMs` (`set_queue_rate_limit`); null: no limit. */
  maxStarts: number | null;
  ratePeriodMs: number | null;
  /** Jobs finished in each of the last 60 minutes, oldest first. */
  finishedPerMinute: number[];
  /** Jobs failed in the last hour. */
  failedLastHour: number;
}

/** Every queue that has unfinished jobs, a limit, a pause or jobs finished in the last hour. */
export async function listQueues(db: Kysely<Database>): Promise<QueueSummary[]> {
  // One statement with grouping sets of its own: the builder has no good spelling for
  // generate_series buckets joined to a grouped count.
  const { rows } = await sql<{
    name: string;
    waiting: string;
    running: string;
    held: string;
    paused: boolean;
    pause_reason: string | null;
    max_running: number | null;
    max_starts: number | null;
    period_ms: number | null;
    per_minute: string[];
    failed: string;
  }>`
    with active as (
      select coalesce(j.queue, 'default') as name, j.status, j.held_at
        from jobdeck.jobs j where j.status in ('queued', 'running', 'retrying')
    ), done as (
      select coalesce(j.queue, 'default') as name, j.status,
             least(59, floor(extract(epoch from now() - j.finished_at) / 60))::int as ago
        from jobdeck.jobs j where j.finished_at >= now() - interval '1 hour'
    ), names as (
      select name from active union select name from done
      union select l.key from jobdeck_private.concurrency_limits l where l.scope = 'queue'
      union select r.name from jobdeck_private.rate_limits r where r.scope = 'queue'
      union select p.key from jobdeck_private.pauses p where p.scope = 'queue'
    )
    select n.name,
           (select count(*) from active a where a.name = n.name and a.status <> 'running') as waiting,
           (select count(*) from active a where a.name = n.name and a.status = 'running') as running,
           (select count(*) from active a where a.name = n.name and a.held_at is not null) as held,
           exists (select 1 from jobdeck_private.pauses p
                    where p.scope = 'all' or (p.scope = 'queue' and p.key = n.name)) as paused,
           (select p.reason from jobdeck_private.pauses p
             where p.scope = 'all' or (p.scope = 'queue' and p.key = n.name)
             order by p.paused_at limit 1) as pause_reason,
           (select l.max_running from jobdeck_private.concurrency_limits l
             where l.scope = 'queue' and l.key = n.name) as max_running,
           (select r.max_starts from jobdeck_private.rate_limits r
             where r.scope = 'queue' and r.name = n.name) as max_starts,
           (select round(extract(epoch from r.period) * 1000)::int from jobdeck_private.rate_limits r
             where r.scope = 'queue' and r.name = n.name) as period_ms,
           array(select (select count(*) from done d where d.name = n.name and d.ago = m)::text
                   from generate_series(59, 0, -1) m) as per_minute,
           (select count(*) from done d where d.name = n.name and d.status = 'failed') as failed
      from names n
     where n.name is not null
     order by n.name
  `.execute(db);
  return rows.map((r) => ({
    name: r.name,
    waiting: Number(r.waiting),
    running: Number(r.running),
    held: Number(r.held),
    paused: r.paused,
    pauseReason: r.pause_reason,
    maxRunning: r.max_running,
    maxStarts: r.max_starts,
    ratePeriodMs: r.period_ms,
    finishedPerMinute: r.per_minute.map(Number),
    failedLastHour: Number(r.failed),
  }));
}

/** A line of the crontab with when it runs next and when it last ran. */
export interface CronSchedule {
  identifier: string;
  task: string;
  /** The line's five time fields, as written. */
  pattern: string;
  payload: Record<string, unknown> | null;
  /** The next minute (UTC) it matches after `now`; null if none within a year (29 February…). */
  nextRunAt: Date | null;
  /** When Graphile Worker last ran it (its `_private_known_crontabs`); null: never. */
  lastRunAt: Date | null;
}

/** The next minute after `now` that a crontab item matches, looked for a year ahead at most. */
export function nextCronRun(item: ReturnType<typeof parseCrontab>[number], now: Date): Date | null {
  const at = new Date(now);
  at.setUTCSeconds(0, 0);
  for (let i = 0; i < 366 * 24 * 60; i++) {
    at.setUTCMinutes(at.getUTCMinutes() + 1);
    const digest = {
      min: at.getUTCMinutes(),
      hour: at.getUTCHours(),
      date: at.getUTCDate(),
      month: at.getUTCMonth() + 1,
      dow: at.getUTCDay(),
    };
    if (item.match(digest)) return new Date(at);
  }
  return null;
}

/**
 * The schedules of a crontab (Graphile Worker's format) with their next and last runs. `text` is
 * the crontab the workers run ('' for none); a line it cannot parse throws, as the worker does.
 */
export async function listCronSchedules(
  db: Kysely<Database>,
  text: string,
  now = new Date(),
): Promise<CronSchedule[]> {
  const items = parseCrontab(text);
  if (items.length === 0) return [];
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  // The table exists once a worker with a crontab has started; before that nothing ran.
  const last = await sql<{ identifier: string; last_execution: Date | null }>`
    select identifier, last_execution from graphile_worker._private_known_crontabs
  `
    .execute(db)
    .then((r) => new Map(r.rows.map((row) => [row.identifier, row.last_execution])))
    .catch(() => new Map<string, Date | null>());
  return items.map((item, index) => ({
    identifier: item.identifier,
    task: item.task,
    pattern: (lines[index] ?? '').split(/\s+/).slice(0, 5).join(' '),
    payload: item.payload,
    nextRunAt: nextCronRun(item, now),
    lastRunAt: last.get(item.identifier) ?? null,
  }));
}
