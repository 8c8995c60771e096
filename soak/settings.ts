import { parseArgs } from 'node:util';
import { havePgBouncer, PGBOUNCER } from './pgbouncer.ts';
import { parseFleetShape, SHAPE_DEFAULTS, SHAPE_LIMITS } from './shape.ts';

const HELP = `npm run soak -- [options]

  (none)        the fault soak: 100,000 jobs on 3 workers and 2 servers, with a kill -9, cut
                LISTEN connections and a PostgreSQL restart (soak/results/latest.json);
                server-1 and worker-1 connect through a PgBouncer (transaction mode) it starts
  --quick       a shorter run of whichever scenario is chosen
  --jobs N      how many jobs (N >= 100; the default depends on the scenario)
  --workers N   fault soak: N worker processes (${SHAPE_LIMITS.workers.min}-${SHAPE_LIMITS.workers.max}; default ${SHAPE_DEFAULTS.workers})
  --servers M   fault soak: M API servers (${SHAPE_LIMITS.servers.min}-${SHAPE_LIMITS.servers.max}; default ${SHAPE_DEFAULTS.servers})
  --no-pgbouncer  fault soak: every process straight to PostgreSQL (no PgBouncer needed)
  --flow        the flow-control scenario instead (soak/flow/; soak/results/flow-latest.json)
  --fifo        with --flow: the tenants first-in first-out, for comparison
  --steps       the durable-steps scenario instead (soak/steps/: multi-step jobs that sleep and
                wait for signals while workers are killed; soak/results/steps-latest.json;
                1,000 jobs, --quick 150)
  --help        this text
`;

function parseFlags() {
  try {
    return parseArgs({
      options: {
        quick: { type: 'boolean' },
        jobs: { type: 'string' },
        flow: { type: 'boolean' },
        fifo: { type: 'boolean' },
        steps: { type: 'boolean' },
        workers: { type: 'string' },
        servers: { type: 'string' },
        pgbouncer: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowNegative: true,
    }).values;
  } catch (error) {
    // parseArgs names the flag; no stack for a typo.
    console.error(`soak: ${(error as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
}

const values = parseFlags();
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const fail = (message: string): never => {
  console.error(`soak: ${message} (npm run soak -- --help)`);
  process.exit(2);
};
if (values.flow && values.steps) fail('--flow and --steps are separate scenarios: choose one');
if (values.fifo && !values.flow) fail('--fifo only applies to --flow');
const fleetFlags = values.workers ?? values.servers ?? values.pgbouncer;
if (fleetFlags !== undefined && (values.flow || values.steps))
  fail('--workers, --servers and --no-pgbouncer apply to the fault soak, not to --flow or --steps');
const shape = (() => {
  try {
    return parseFleetShape(values);
  } catch (error) {
    return fail((error as Error).message);
  }
})();
if (shape.pgbouncer && !values.flow && !values.steps && !havePgBouncer)
  fail(`no PgBouncer at ${PGBOUNCER}: install it (apt install pgbouncer) or pass --no-pgbouncer`);
const quick = values.quick ?? false;
const jobs = values.jobs ? Number(values.jobs) : quick ? 10_000 : 100_000;
if (!Number.isInteger(jobs) || jobs < 100) fail('--jobs must be a whole number >= 100');

/** The soak's settings (`-- --quick`, `-- --jobs N`), written into the results as they are. */
export const SETTINGS = {
  quick,
  /** `-- --flow`: the flow-control scenario (soak/flow/main.ts) instead of the fault soak. */
  flow: values.flow ?? false,
  /** With `--flow`: the tenants' jobs first-in first-out, for comparison (no wait limit then). */
  fifo: values.fifo ?? false,
  /** `-- --steps`: the durable-steps scenario (soak/steps/main.ts) instead of the fault soak. */
  steps: values.steps ?? false,
  jobs,
  /** With `--steps`: how many multi-step jobs (`--jobs N` when given). */
  steps_jobs: values.jobs ? jobs : quick ? 150 : 1000,
  /** `--workers N`: worker processes (one more replaces the one killed). */
  workers: shape.workers,
  /** `--servers M`: API servers; the REST/GraphQL trickle and the streams use each of them. */
  servers: shape.servers,
  /** Unless `--no-pgbouncer`: server-1 and worker-1 connect through a PgBouncer the soak starts. */
  pgbouncer: shape.pgbouncer,
  concurrency: 25,
  heartbeat_interval_ms: 500,
  rescue_after_ms: 5000,
  poll_interval_ms: 500,
  shutdown_timeout_ms: 5000,
  /**
   * Upper bound on the bulk enqueue rate, so that the faults fall while jobs flow: the enqueue
   * lasts at least 40 s (quick: 250 jobs/s), longer when the workers fall behind (backlog bound).
   */
  bulk_jobs_per_sec: Math.min(1000, Math.max(50, Math.round(jobs / 40))),
  bulk_batch: 500,
  max_backlog: quick ? 2000 : 5000,
  /** One REST or GraphQL enqueue this often, alternating servers. */
  api_interval_ms: 100,
  /** Share of the bulk enqueue after which each fault is injected, one after another. */
  fault_points: { kill_worker: 0.2, terminate_listeners: 0.45, restart_postgres: 0.7 },
  pg_down_ms: 2000,
  /** After the last enqueue, how long the jobs get to finish before the rest count as stuck. */
  drain_deadline_ms: quick ? 60_000 : 600_000,
  /**
   * Stop waiting early when the number of unfinished jobs has not moved for this long (long enough
   * for Graphile Worker's own retries after a restart, which back off from 3 s).
   */
  stall_ms: quick ? 60_000 : 120_000,
  /** After the restart, how long to wait for a newly enqueued job to succeed. */
  pg_recover_timeout_ms: 30_000,
};
