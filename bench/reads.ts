import type pg from 'pg';
import { createPool } from '../src/db/pool.ts';
import { loadConfig } from '../src/config.ts';
import { migrate } from '../src/db/migrate.ts';
import { signToken } from '../src/auth/tokens.ts';
import { startServer } from '../src/http/server.ts';
import { percentile } from './stats.ts';

const SECRET = 'bench-secret-bench-secret-bench-secret';
/** The caller's unfinished jobs, all of which both reads return. */
export const ACTIVE_JOBS = 100;

/** Weekly history partitions the bench's history is spread over. */
const HISTORY_WEEKS = 6;
/** The retention the history was moved under (days): purge_on = the finish day + this + 1. */
const HISTORY_RETENTION_DAYS = 60;

/**
 * Writes `historyRows` succeeded jobs (spread over 1,000 users and 20 organisations) as the
 * history service would have left them: in {@link HISTORY_WEEKS} weekly history partitions
 * (migration 000023), finished over the weeks before. Fast: each partition is filled as a plain
 * table by one `insert … select generate_series` (no index, no trigger), then attached, which
 * builds its indexes in bulk.
 */
export async function fillHistory(pool: pg.Pool, historyRows: number): Promise<void> {
  const perWeek = Math.ceil(historyRows / HISTORY_WEEKS);
  for (let week = 0; week < HISTORY_WEEKS && week * perWeek < historyRows; week++) {
    const rows = Math.min(perWeek, historyRows - week * perWeek);
    const { rows: names } = await pool.query<{ name: string; monday: string }>(
      `select jobdeck_private.history_partition(m) as name, m::text as monday
         from (select date_trunc('week', now() at time zone 'UTC')::date + 7 * $1::int as m) w`,
      [week + 1],
    );
    const { name, monday } = names[0]!;
    await pool.query(`drop table if exists jobdeck_private.${name}`);
    await pool.query(
      `create table jobdeck_private.${name} (like jobdeck.jobs including defaults including constraints)`,
    );
    // purge_on: one of the week's 7 days; finished HISTORY_RETENTION_DAYS + 1 days before it.
    await pool.query(
      `insert into jobdeck_private.${name}
         (type, status, progress, owner_id, org_id, created_at, started_at, finished_at, attempts, purge_on)
       select 'export_report', 'succeeded', 100, 'user' || (g % 1000), 'org' || (g % 20),
              f - interval '1 second', f - interval '1 second', f, 1, p
         from generate_series(1, $1::int) g,
              lateral (select $2::date + (g % 7) as p) d,
              lateral (select (d.p - $3::int - 1)::timestamp at time zone 'UTC'
                              + make_interval(secs => (g::bigint * 7919) % 86400) as f) t`,
      [rows, monday, HISTORY_RETENTION_DAYS],
    );
    // As a history partition is in production, where its rows never change after their move:
    // vacuumed (all visible, so reads use index-only scans) and analysed, before the timed reads
    // rather than by autovacuum during them.
    await pool.query(`vacuum (analyze) jobdeck_private.${name}`);
    await pool.query(
      `alter table jobdeck.jobs attach partition jobdeck_private.${name}
         for values from ('${monday}') to ('${monday}'::date + 7)`,
    );
  }
}

/**
 * `GET /api/v2/jobs/active` and GraphQL `activeJobs` latency (p50/p95 over sequential requests
 * after a warm-up) with `historyRows` finished jobs ({@link fillHistory}) spread over 1,000 users and
 * {@link ACTIVE_JOBS} queued jobs of the caller, on a real jobdeck server. Checks first that both
 * reads return all of the caller's active jobs.
 */
export async function activeJobsLatency(
  url: string,
  historyRows: number,
  requests = 500,
): Promise<{ graphql: { p50: number; p95: number }; rest: { p50: number; p95: number } }> {
  const pool = createPool(url, { max: 2 });
  await migrate(pool);
  const filled = performance.now();
  await fillHistory(pool, historyRows);
  const fillMs = performance.now() - filled;
  // The caller's unfinished jobs, in jobs_live, without the announcements a live job would make.
  await pool.query('alter table jobdeck.jobs disable trigger user');
  await pool.query(
    `insert into jobdeck.jobs (type, status, payload, owner_id, org_id, run_at)
     select 'import_file', 'queued', '{"filename":"a.csv"}', 'alice', 'acme', now() + interval '1 day'
       from generate_series(1, $1::int)`,
    [ACTIVE_JOBS],
  );
  await pool.query('alter table jobdeck.jobs enable trigger user');
  await pool.query('analyze jobdeck.jobs');
  await pool.end();
  console.log(
    `bench: ${historyRows.toLocaleString('en-US')} history rows written in ${(fillMs / 1000).toFixed(1)} s`,
  );
  const config = { ...loadConfig({}), jwtSecret: SECRET, logLevel: 'error' as const };
  const server = await startServer({ config, connectionString: url, port: 0 });
  try {
    const token = await signToken({ userId: 'alice', orgId: 'acme' }, SECRET);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const graphql = () =>
      fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          query:
            '{ activeJobs(first: 100) { nodes { id type status progress currentStep etaAt } } }',
        }),
      });
    const rest = () => fetch(`${server.url}/api/v2/jobs/active`, { headers });
    const viaGraphql = (await (await graphql()).json()) as {
      data?: { activeJobs?: { nodes: unknown[] } };
    };
    const viaRest = (await (await rest()).json()) as unknown[];
    const counts = [viaGraphql.data?.activeJobs?.nodes.length, viaRest.length];
    if (counts.some((count) => count !== ACTIVE_JOBS))
      throw new Error(
        `expected ${ACTIVE_JOBS} active jobs, GraphQL/REST returned ${counts.join('/')}`,
      );
    const measure = async (call: () => Promise<Response>) => {
      for (let i = 0; i < 50; i++) await (await call()).text();
      const samples: number[] = [];
      for (let i = 0; i < requests; i++) {
        const started = performance.now();
        const response = await call();
        await response.text();
        if (!response.ok) throw new Error(`read failed: ${response.status}`);
        samples.push(performance.now() - started);
      }
      return { p50: percentile(samples, 50), p95: percentile(samples, 95) };
    };
    return { graphql: await measure(graphql), rest: await measure(rest) };
  } finally {
    await server.close();
  }
}
