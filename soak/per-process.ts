import type pg from 'pg';
import { round } from './faults.ts';
import type { JobdeckProcess } from './processes.ts';
import type { StreamReport } from './report.ts';

/** How a process reached PostgreSQL. */
export type Route = 'pgbouncer' | 'direct';

/** One process's share of the run, as written into the results. */
export interface ProcessFigures {
  name: string;
  kind: 'worker' | 'serve';
  pid: number;
  /** `pgbouncer`: DATABASE_URL through the soak's PgBouncer, DATABASE_LISTEN_URL direct. */
  via: Route;
  exit: string | null;
  expected_exit: boolean;
  /** Workers: the soak's jobs whose last attempt ran there, finished (any final state). */
  jobs_finished?: number;
  /** Workers: `jobs_finished` over the run's seconds. */
  jobs_per_sec?: number;
  /** Servers: REST/GraphQL enqueues acknowledged, and failed, through it. */
  api_enqueues?: number;
  api_errors?: number;
  /** Servers: change events its SSE stream and its GraphQL subscription received. */
  stream_events?: number;
}

/** Finished soak jobs by the pid of the worker that ran their last attempt. */
export async function finishedByWorkerPid(pool: pg.Pool): Promise<Map<number, number>> {
  const { rows } = await pool.query<{ pid: number; n: number }>(
    `select w.pid, count(*)::int as n
       from jobdeck.jobs j join jobdeck_private.workers w on w.id = j.worker_id
      where j.status in ('succeeded', 'failed', 'cancelled') and j.payload ? 'seq'
      group by w.pid`,
  );
  return new Map(rows.map((r) => [r.pid, r.n]));
}

/** The base name of a process (`worker-1.r2` → `worker-1`): a replacement keeps its route. */
export function baseName(name: string): string {
  return name.replace(/(\.r\d+)+$/, '');
}

/** Puts each process's figures together from what the soak counted. */
export function processFigures(input: {
  processes: readonly JobdeckProcess[];
  routes: ReadonlyMap<string, Route>;
  finishedByPid: ReadonlyMap<number, number>;
  /** Server name → its API enqueue counts. */
  api: ReadonlyMap<string, { enqueued: number; errors: number }>;
  streams: readonly StreamReport[];
  runSeconds: number;
}): ProcessFigures[] {
  // Workers, then servers, each in number order (the fleet lists them as they became ready).
  const order = (p: JobdeckProcess) => `${p.kind === 'worker' ? 0 : 1}${p.name}`;
  const sorted = [...input.processes].sort((a, b) =>
    order(a).localeCompare(order(b), 'en', { numeric: true }),
  );
  return sorted.map((p) => {
    const common = {
      name: p.name,
      kind: p.kind,
      pid: p.pid,
      via: input.routes.get(baseName(p.name)) ?? 'direct',
      exit: p.exit ? (p.exit.signal ?? `code ${p.exit.code}`) : null,
      expected_exit: p.expectedExit,
    };
    if (p.kind === 'worker') {
      const finished = input.finishedByPid.get(p.pid) ?? 0;
      return {
        ...common,
        jobs_finished: finished,
        jobs_per_sec: input.runSeconds > 0 ? round(finished / input.runSeconds, 1) : 0,
      };
    }
    const api = input.api.get(p.name) ?? { enqueued: 0, errors: 0 };
    return {
      ...common,
      api_enqueues: api.enqueued,
      api_errors: api.errors,
      stream_events: input.streams
        .filter((s) => s.name.endsWith(`@${p.name}`))
        .reduce((n, s) => n + s.events, 0),
    };
  });
}

/** The per-process table. */
export function printProcessFigures(figures: readonly ProcessFigures[]): void {
  console.table(
    Object.fromEntries(
      figures.map((f) => [
        f.name,
        {
          via: f.via,
          exit: f.exit ?? '',
          ...(f.kind === 'worker'
            ? { 'jobs finished': f.jobs_finished, 'jobs/s': f.jobs_per_sec }
            : {
                'API enqueues': f.api_enqueues,
                'API errors': f.api_errors,
                'stream events': f.stream_events,
              }),
        },
      ]),
    ),
  );
}
