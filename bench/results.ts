/**
 * The shape of `bench/results/latest.json` and the targets it is judged against. Pure functions
 * (no database, no clock), so test/unit/bench-results.test.ts can guard the key list.
 */

export interface P50P99 {
  p50: number;
  p99: number;
}

export interface P50P95 {
  p50: number;
  p95: number;
}

/** CPU time one drained job cost, in µs: the worker process's and PostgreSQL's (null: not read). */
export interface CpuPerJob {
  worker: number;
  postgres: number | null;
  /** Their sum, where it is not simply worker + postgres (e.g. the median of per-round sums). */
  total?: number | null;
  /**
   * The whole machine's CPU per job (/proc/stat), the processes' own code (`user`) and the
   * kernel's work for them (`system`: syscalls, context switches, wake-ups), which the
   * per-process figures undercount; everything else running meanwhile counts too.
   */
  machine?: { user: number; system: number } | null;
}

/** The add → start time split at the enqueue call's return (p50 of each part, ms). */
export interface AddToStartSplit {
  enqueue_p50: number;
  start_p50: number;
}

/** What one `npm run bench` measured, before it is shaped into the JSON. */
export interface BenchMeasurements {
  /** Drain rates, jobs/s. */
  drain: { raw: number; jobdeck: number; pgBoss: number };
  /** Optional: jobdeck's drain with a limit configured that never binds (its slow path). */
  drainLimited?: { jobsPerSec: number; limit: string };
  /** Enqueue rates, jobs/s. */
  enqueue: { single: number; bulk: number };
  addToStart: { jobdeck: P50P99; raw: P50P99 };
  /** Optional: the enqueue call's part and the worker's part of add → start. */
  addToStartSplit?: { jobdeck: AddToStartSplit; raw: AddToStartSplit };
  /** Optional: what each drain cost in CPU per job. */
  cpuPerJob?: { raw: CpuPerJob; jobdeck: CpuPerJob; pgBoss: CpuPerJob };
  progressToSubscriber: P50P99;
  /** The same with the dashboard's selection (each event re-reads the job); not a target. */
  progressToSubscriberDashboard: P50P99 & { reconnects: number };
  activeJobs: { graphql: P50P95; rest: P50P95; historyRows: number };
  workerPeakRssMb: number;
  /** Medians of fresh process starts, ms: the built CLI's `jobs --json`, and `node -e 0`. */
  cliStart: { jobsMs: number; nodeMs: number };
  settings: BenchSettings;
  machine: { cores: number; pgVersion: string; nodeVersion: string };
}

/** Free-form run settings (counts, concurrency, where the worker ran, …), copied as they are. */
export type BenchSettings = Record<string, string | number | boolean>;

export interface TargetResult {
  /** The target in words, e.g. "jobdeck ≥ 0.6 × raw Graphile Worker". */
  target: string;
  /** The bound the measured value is compared with. */
  threshold: number;
  /** `>=`: the value must reach the threshold; `<=`: it must stay within it. */
  comparison: '>=' | '<=';
  unit: string;
  value: number;
  met: boolean;
}

export interface BenchResults {
  throughput: {
    raw_graphile_worker: { jobs_per_sec: number };
    jobdeck: { jobs_per_sec: number };
    pg_boss: { jobs_per_sec: number };
    ratio_jobdeck_vs_raw: number;
    ratio_jobdeck_vs_pgboss: number;
    /**
     * Reference only: jobdeck's drain with a limit configured that never binds (every start takes
     * the slow path), and its ratio to the drain with no limit.
     */
    jobdeck_with_limit?: { jobs_per_sec: number; limit: string; ratio_vs_no_limit: number };
  };
  enqueue: { single: { jobs_per_sec: number }; bulk: { jobs_per_sec: number } };
  latency_add_to_start_ms: { jobdeck: P50P99; raw_graphile_worker: P50P99 };
  /** Reference only: add → start split at the enqueue call's return. */
  add_to_start_split_ms?: { jobdeck: AddToStartSplit; raw_graphile_worker: AddToStartSplit };
  /**
   * Reference only: CPU µs per drained job, the worker's, PostgreSQL's and their sum, and the CPU a
   * job may cost at most for 10,000 jobs/s on this machine's cores.
   */
  cpu_per_job_us?: {
    raw_graphile_worker: CpuPerJobTotal;
    jobdeck: CpuPerJobTotal;
    pg_boss: CpuPerJobTotal;
    budget_at_10k_jobs_per_sec: number;
  };
  progress_to_subscriber_ms: P50P99;
  /** Reference only: the subscriber selects what the dashboard does (a job re-read per event). */
  progress_to_subscriber_dashboard_ms: P50P99 & { reconnects: number };
  active_jobs_ms: { graphql: P50P95; rest: P50P95; history_rows: number };
  worker_peak_rss_mb: number;
  /** `jobdeck jobs --json` (the built CLI) as a fresh process: median wall time, ms. */
  cli_jobs_ms: number;
  /** `node -e 0` as a fresh process, timed alongside: the floor under any Node CLI. */
  node_start_ms: number;
  targets: Record<TargetName, TargetResult>;
  settings: BenchSettings;
  machine: { cores: number; pg_version: string; node_version: string };
}

export interface CpuPerJobTotal {
  worker: number;
  postgres: number | null;
  total: number | null;
  /** The whole machine's (user + system = total), µs per job; null where not read. */
  machine: { user: number; system: number; total: number } | null;
}

function withTotal(cpu: CpuPerJob): CpuPerJobTotal {
  const machine = cpu.machine ?? null;
  return {
    worker: Math.round(cpu.worker),
    postgres: cpu.postgres === null ? null : Math.round(cpu.postgres),
    total: cpu.postgres === null ? null : Math.round(cpu.total ?? cpu.worker + cpu.postgres),
    machine: machine && {
      user: Math.round(machine.user),
      system: Math.round(machine.system),
      total: Math.round(machine.user + machine.system),
    },
  };
}

interface TargetSpec {
  target: string;
  comparison: '>=' | '<=';
  threshold: number;
  unit: string;
  measured: (results: Omit<BenchResults, 'targets'>) => number;
}

/**
 * The goals jobdeck is measured against: the benchmark issue's, with issue 23's for the drain
 * ratios, the CPU per tracked job and add → start against raw Graphile Worker in the same run.
 */
export const TARGETS = {
  jobdeck_vs_raw: {
    target: 'jobdeck drain ≥ 0.45 × raw Graphile Worker',
    comparison: '>=',
    threshold: 0.45,
    unit: '×',
    measured: (r) => r.throughput.ratio_jobdeck_vs_raw,
  },
  jobdeck_vs_pgboss: {
    target: 'jobdeck drain ≥ 1.2 × pg-boss',
    comparison: '>=',
    threshold: 1.2,
    unit: '×',
    measured: (r) => r.throughput.ratio_jobdeck_vs_pgboss,
  },
  jobdeck_cpu_per_job: {
    target: 'jobdeck CPU per tracked job (worker + PostgreSQL) ≤ 180 µs',
    comparison: '<=',
    threshold: 180,
    unit: 'µs',
    // NaN (missed, null in the JSON) when PostgreSQL runs elsewhere and its CPU cannot be read.
    measured: (r) => r.cpu_per_job_us?.jobdeck.total ?? Number.NaN,
  },
  jobdeck_jobs_per_sec: {
    target: 'jobdeck drain ≥ 10,000 jobs/s',
    comparison: '>=',
    threshold: 10_000,
    unit: 'jobs/s',
    measured: (r) => r.throughput.jobdeck.jobs_per_sec,
  },
  add_to_start_p50: {
    target: 'jobdeck add → start p50 ≤ 4 ms',
    comparison: '<=',
    threshold: 4,
    unit: 'ms',
    measured: (r) => r.latency_add_to_start_ms.jobdeck.p50,
  },
  add_to_start_vs_raw_p50: {
    target: 'jobdeck add → start p50 ≤ raw Graphile Worker’s + 0.5 ms',
    comparison: '<=',
    threshold: 0.5,
    unit: 'ms',
    measured: (r) =>
      Number(
        (
          r.latency_add_to_start_ms.jobdeck.p50 - r.latency_add_to_start_ms.raw_graphile_worker.p50
        ).toFixed(2),
      ),
  },
  add_to_start_p99: {
    target: 'jobdeck add → start p99 ≤ 15 ms',
    comparison: '<=',
    threshold: 15,
    unit: 'ms',
    measured: (r) => r.latency_add_to_start_ms.jobdeck.p99,
  },
  progress_to_subscriber_p99: {
    target: 'progress → subscriber p99 ≤ 50 ms',
    comparison: '<=',
    threshold: 50,
    unit: 'ms',
    measured: (r) => r.progress_to_subscriber_ms.p99,
  },
  active_jobs_graphql_p95: {
    target: 'activeJobs (GraphQL) p95 ≤ 10 ms',
    comparison: '<=',
    threshold: 10,
    unit: 'ms',
    measured: (r) => r.active_jobs_ms.graphql.p95,
  },
  active_jobs_rest_p95: {
    target: 'GET /api/v2/jobs/active p95 ≤ 10 ms',
    comparison: '<=',
    threshold: 10,
    unit: 'ms',
    measured: (r) => r.active_jobs_ms.rest.p95,
  },
  worker_peak_rss: {
    target: 'worker peak RSS ≤ 200 MB',
    comparison: '<=',
    threshold: 200,
    unit: 'MB',
    measured: (r) => r.worker_peak_rss_mb,
  },
  cli_jobs: {
    target: 'jobdeck jobs --json (fresh process) ≤ 600 ms',
    comparison: '<=',
    threshold: 600,
    unit: 'ms',
    measured: (r) => r.cli_jobs_ms,
  },
} satisfies Record<string, TargetSpec>;

export type TargetName = keyof typeof TARGETS;

/** a / b to three decimals; 0 when b is 0 (nothing to compare with). */
function ratio(a: number, b: number): number {
  return b > 0 ? Number((a / b).toFixed(3)) : 0;
}

/** Each target with the measured value and whether it was met. */
export function evaluateTargets(
  results: Omit<BenchResults, 'targets'>,
): Record<TargetName, TargetResult> {
  const entries = (Object.entries(TARGETS) as [TargetName, TargetSpec][]).map(([name, spec]) => {
    const value = spec.measured(results);
    const met =
      Number.isFinite(value) &&
      (spec.comparison === '>=' ? value >= spec.threshold : value <= spec.threshold);
    const result: TargetResult = {
      target: spec.target,
      threshold: spec.threshold,
      comparison: spec.comparison,
      unit: spec.unit,
      value,
      met,
    };
    return [name, result] as const;
  });
  return Object.fromEntries(entries) as Record<TargetName, TargetResult>;
}

/** The JSON written to bench/results/latest.json. */
export function buildResults(m: BenchMeasurements): BenchResults {
  const withoutTargets: Omit<BenchResults, 'targets'> = {
    throughput: {
      raw_graphile_worker: { jobs_per_sec: Math.round(m.drain.raw) },
      jobdeck: { jobs_per_sec: Math.round(m.drain.jobdeck) },
      pg_boss: { jobs_per_sec: Math.round(m.drain.pgBoss) },
      ratio_jobdeck_vs_raw: ratio(m.drain.jobdeck, m.drain.raw),
      ratio_jobdeck_vs_pgboss: ratio(m.drain.jobdeck, m.drain.pgBoss),
      ...(m.drainLimited && {
        jobdeck_with_limit: {
          jobs_per_sec: Math.round(m.drainLimited.jobsPerSec),
          limit: m.drainLimited.limit,
          ratio_vs_no_limit: ratio(m.drainLimited.jobsPerSec, m.drain.jobdeck),
        },
      }),
    },
    enqueue: {
      single: { jobs_per_sec: Math.round(m.enqueue.single) },
      bulk: { jobs_per_sec: Math.round(m.enqueue.bulk) },
    },
    latency_add_to_start_ms: {
      jobdeck: { p50: m.addToStart.jobdeck.p50, p99: m.addToStart.jobdeck.p99 },
      raw_graphile_worker: { p50: m.addToStart.raw.p50, p99: m.addToStart.raw.p99 },
    },
    ...(m.addToStartSplit && {
      add_to_start_split_ms: {
        jobdeck: { ...m.addToStartSplit.jobdeck },
        raw_graphile_worker: { ...m.addToStartSplit.raw },
      },
    }),
    ...(m.cpuPerJob && {
      cpu_per_job_us: {
        raw_graphile_worker: withTotal(m.cpuPerJob.raw),
        jobdeck: withTotal(m.cpuPerJob.jobdeck),
        pg_boss: withTotal(m.cpuPerJob.pgBoss),
        // Every core busy all the time: the most a job can cost for 10,000 jobs/s.
        budget_at_10k_jobs_per_sec: Math.round((m.machine.cores * 1e6) / 10_000),
      },
    }),
    progress_to_subscriber_ms: {
      p50: m.progressToSubscriber.p50,
      p99: m.progressToSubscriber.p99,
    },
    progress_to_subscriber_dashboard_ms: {
      p50: m.progressToSubscriberDashboard.p50,
      p99: m.progressToSubscriberDashboard.p99,
      reconnects: m.progressToSubscriberDashboard.reconnects,
    },
    active_jobs_ms: {
      graphql: { p50: m.activeJobs.graphql.p50, p95: m.activeJobs.graphql.p95 },
      rest: { p50: m.activeJobs.rest.p50, p95: m.activeJobs.rest.p95 },
      history_rows: m.activeJobs.historyRows,
    },
    worker_peak_rss_mb: m.workerPeakRssMb,
    cli_jobs_ms: Math.round(m.cliStart.jobsMs),
    node_start_ms: Math.round(m.cliStart.nodeMs),
    settings: { ...m.settings },
    machine: {
      cores: m.machine.cores,
      pg_version: m.machine.pgVersion,
      node_version: m.machine.nodeVersion,
    },
  };
  const { settings, machine, ...measured } = withoutTargets;
  return { ...measured, targets: evaluateTargets(withoutTargets), settings, machine };
}

/** Rows for `console.table`: each target, what was measured, met or missed. */
export function targetRows(
  targets: Record<TargetName, TargetResult>,
): Record<string, { measured: string; result: string }> {
  return Object.fromEntries(
    Object.values(targets).map((t) => [
      t.target,
      {
        measured: `${t.value.toLocaleString('en-US')} ${t.unit}`,
        result: t.met ? 'met' : 'MISSED',
      },
    ]),
  );
}
