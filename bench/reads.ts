import { createPool } from '../src/db/pool.ts';
import { loadConfig } from '../src/config.ts';
import { migrate } from '../src/db/migrate.ts';
import { signToken } from '../src/auth/tokens.ts';
import { startServer } from '../src/http/server.ts';
import { percentile } from './stats.ts';

const SECRET = 'bench-secret-bench-secret-bench-secret';
/** The caller's unfinished jobs, all of which both reads return. */
export const ACTIVE_JOBS = 100;

/**
 * `GET /api/v2/jobs/active` and GraphQL `activeJobs` latency (p50/p95 over sequential requests
 * after a warm-up) with `historyRows` finished jobs spread over 1,000 users and
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
  // History written in bulk, without the per-row announcements a live job would make.
  await pool.query('alter table jobdeck.jobs disable trigger user');
  for (let done = 0; done < historyRows; done += 100_000) {
    await pool.query(
      `insert into jobdeck.jobs (type, status, progress, owner_id, org_id, created_at, started_at, finished_at, attempts)
       select 'export_report', 'succeeded', 100, 'user' || (g % 1000), 'org' || (g % 20),
              now() - make_interval(secs => g), now() - make_interval(secs => g),
              now() - make_interval(secs => g) + interval '1 second', 1
         from generate_series($1::int, $2::int) g`,
      [done + 1, Math.min(historyRows, done + 100_000)],
    );
  }
  await pool.query(
    `insert into jobdeck.jobs (type, status, payload, owner_id, org_id, run_at)
     select 'import_file', 'queued', '{"filename":"a.csv"}', 'alice', 'acme', now() + interval '1 day'
       from generate_series(1, $1::int)`,
    [ACTIVE_JOBS],
  );
  await pool.query('alter table jobdeck.jobs enable trigger user');
  await pool.query('analyze jobdeck.jobs');
  await pool.end();
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
