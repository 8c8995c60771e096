import { describe, expect, it } from 'vitest';
import {
  buildResults,
  evaluateTargets,
  TARGETS,
  targetRows,
  type BenchMeasurements,
} from '../../bench/results.ts';

/** Every key bench/results/latest.json must have (the benchmark issue's list). */
const REQUIRED_KEYS = [
  'throughput.raw_graphile_worker.jobs_per_sec',
  'throughput.jobdeck.jobs_per_sec',
  'throughput.pg_boss.jobs_per_sec',
  'throughput.ratio_jobdeck_vs_raw',
  'throughput.ratio_jobdeck_vs_pgboss',
  'enqueue.single.jobs_per_sec',
  'enqueue.bulk.jobs_per_sec',
  'latency_add_to_start_ms.jobdeck.p50',
  'latency_add_to_start_ms.jobdeck.p99',
  'latency_add_to_start_ms.raw_graphile_worker.p50',
  'latency_add_to_start_ms.raw_graphile_worker.p99',
  'progress_to_subscriber_ms.p50',
  'progress_to_subscriber_ms.p99',
  'active_jobs_ms.graphql.p50',
  'active_jobs_ms.graphql.p95',
  'active_jobs_ms.rest.p50',
  'active_jobs_ms.rest.p95',
  'active_jobs_ms.history_rows',
  'worker_peak_rss_mb',
  'cli_jobs_ms',
  'node_start_ms',
  'settings',
  'machine.cores',
  'machine.pg_version',
  'machine.node_version',
];

/** The targets, each with the measured value and whether it was met. */
const TARGET_NAMES = [
  'jobdeck_vs_raw',
  'jobdeck_vs_pgboss',
  'jobdeck_cpu_per_job',
  'jobdeck_jobs_per_sec',
  'add_to_start_p50',
  'add_to_start_vs_raw_p50',
  'add_to_start_p99',
  'progress_to_subscriber_p99',
  'active_jobs_graphql_p95',
  'active_jobs_rest_p95',
  'worker_peak_rss',
  'cli_jobs',
];

function measurements(overrides: Partial<BenchMeasurements> = {}): BenchMeasurements {
  return {
    drain: { raw: 20_000, jobdeck: 13_000, pgBoss: 6000 },
    enqueue: { single: 500, bulk: 11_000 },
    addToStart: { jobdeck: { p50: 3, p99: 12 }, raw: { p50: 2.5, p99: 8 } },
    cpuPerJob: {
      raw: { worker: 12, postgres: 29 },
      jobdeck: { worker: 56, postgres: 120 },
      pgBoss: { worker: 16, postgres: 127 },
    },
    progressToSubscriber: { p50: 8, p99: 30 },
    progressToSubscriberDashboard: { p50: 20, p99: 90, reconnects: 0 },
    activeJobs: { graphql: { p50: 3, p95: 6 }, rest: { p50: 3, p95: 7 }, historyRows: 1_000_000 },
    workerPeakRssMb: 140,
    cliStart: { jobsMs: 310, nodeMs: 45 },
    settings: { jobs: 50_000, concurrency: 50, local_queue: 500 },
    machine: { cores: 2, pgVersion: '18.4', nodeVersion: 'v24.21.0' },
    ...overrides,
  };
}

function valueAt(object: unknown, dotted: string): unknown {
  return dotted
    .split('.')
    .reduce<unknown>(
      (node, key) =>
        node !== null && typeof node === 'object'
          ? (node as Record<string, unknown>)[key]
          : undefined,
      object,
    );
}

describe('buildResults()', () => {
  it('puts the drain with a limit configured beside the one without, with their ratio', () => {
    const results = buildResults(
      measurements({ drainLimited: { jobsPerSec: 6500.4, limit: 'maxConcurrent 100000' } }),
    );
    expect(results.throughput.jobdeck_with_limit).toEqual({
      jobs_per_sec: 6500,
      limit: 'maxConcurrent 100000',
      ratio_vs_no_limit: 0.5,
    });
    expect(buildResults(measurements()).throughput.jobdeck_with_limit).toBeUndefined();
  });

  it('has every key of bench/results/latest.json, with numbers where numbers are due', () => {
    const results = buildResults(measurements());
    for (const key of REQUIRED_KEYS) {
      expect(valueAt(results, key), key).toBeDefined();
      if (key !== 'settings' && key !== 'machine.pg_version' && key !== 'machine.node_version')
        expect(typeof valueAt(results, key), key).toBe('number');
    }
    expect(Object.keys(results.targets).sort()).toEqual([...TARGET_NAMES].sort());
  });

  it('keeps the key set when serialised, as the bench writes it', () => {
    const parsed = JSON.parse(JSON.stringify(buildResults(measurements()))) as unknown;
    for (const key of REQUIRED_KEYS) expect(valueAt(parsed, key), key).toBeDefined();
    for (const name of TARGET_NAMES) {
      for (const field of ['target', 'threshold', 'value', 'met'])
        expect(valueAt(parsed, `targets.${name}.${field}`), `${name}.${field}`).toBeDefined();
    }
  });

  it('rounds rates and works out the ratios', () => {
    const results = buildResults(
      measurements({ drain: { raw: 20_000.4, jobdeck: 12_345.6, pgBoss: 6000 } }),
    );
    expect(results.throughput.jobdeck.jobs_per_sec).toBe(12_346);
    expect(results.throughput.ratio_jobdeck_vs_raw).toBe(0.617);
    expect(results.throughput.ratio_jobdeck_vs_pgboss).toBe(2.058);
  });

  it("adds the CPU per job, its sum, the whole machine's and the budget for 10,000 jobs/s, when measured", () => {
    expect(buildResults(measurements({ cpuPerJob: undefined })).cpu_per_job_us).toBeUndefined();
    const results = buildResults(
      measurements({
        cpuPerJob: {
          raw: { worker: 38.4, postgres: 51.6 },
          jobdeck: { worker: 79, postgres: 201.2, machine: { user: 230.4, system: 99.6 } },
          pgBoss: { worker: 42, postgres: null },
        },
      }),
    );
    expect(results.cpu_per_job_us).toEqual({
      raw_graphile_worker: { worker: 38, postgres: 52, total: 90, machine: null },
      // The whole machine's: the processes' code and the kernel's work for them, apart and summed.
      jobdeck: {
        worker: 79,
        postgres: 201,
        total: 280,
        machine: { user: 230, system: 100, total: 330 },
      },
      // PostgreSQL elsewhere: its CPU cannot be read, so there is no sum either.
      pg_boss: { worker: 42, postgres: null, total: null, machine: null },
      budget_at_10k_jobs_per_sec: 200,
    });
  });

  it('adds the add → start split at the enqueue call, when measured', () => {
    const split = {
      jobdeck: { enqueue_p50: 2.7, start_p50: 2.4 },
      raw: { enqueue_p50: 2.6, start_p50: 1.6 },
    };
    const results = buildResults(measurements({ addToStartSplit: split }));
    expect(results.add_to_start_split_ms).toEqual({
      jobdeck: split.jobdeck,
      raw_graphile_worker: split.raw,
    });
  });

  it("reports the CLI's median start in whole ms next to node's", () => {
    const results = buildResults(measurements({ cliStart: { jobsMs: 412.6, nodeMs: 61.2 } }));
    expect(results.cli_jobs_ms).toBe(413);
    expect(results.node_start_ms).toBe(61);
    expect(results.targets.cli_jobs).toMatchObject({ value: 413, threshold: 600, met: true });
    // a CLI that takes as long as it did before (2.4 s and more) misses the target
    const slow = buildResults(measurements({ cliStart: { jobsMs: 2400, nodeMs: 61 } }));
    expect(slow.targets.cli_jobs).toMatchObject({ value: 2400, met: false });
  });

  it('copies the settings and the machine', () => {
    const results = buildResults(measurements());
    expect(results.settings).toEqual({ jobs: 50_000, concurrency: 50, local_queue: 500 });
    expect(results.machine).toEqual({ cores: 2, pg_version: '18.4', node_version: 'v24.21.0' });
  });
});

describe('evaluateTargets()', () => {
  it('marks every target met when each bound holds', () => {
    const { targets } = buildResults(measurements());
    for (const name of TARGET_NAMES)
      expect(targets[name as keyof typeof targets].met, name).toBe(true);
  });

  it('marks targets missed, bounds included as met', () => {
    const { targets: _targets, ...results } = buildResults(
      measurements({
        drain: { raw: 20_000, jobdeck: 9000, pgBoss: 6000 },
        addToStart: { jobdeck: { p50: 4, p99: 15.01 }, raw: { p50: 2, p99: 8 } },
        workerPeakRssMb: 200,
      }),
    );
    const targets = evaluateTargets(results);
    expect(targets.jobdeck_vs_raw).toMatchObject({ value: 0.45, threshold: 0.45, met: true });
    expect(targets.jobdeck_vs_pgboss).toMatchObject({ value: 1.5, met: true });
    expect(targets.jobdeck_jobs_per_sec).toMatchObject({ value: 9000, met: false });
    expect(targets.add_to_start_p50).toMatchObject({ value: 4, met: true });
    // 4 ms against raw's 2 ms: 2 ms above it, the bound is 0.5
    expect(targets.add_to_start_vs_raw_p50).toMatchObject({ value: 2, met: false });
    // 56 + 120 µs is within 180; 180 is met; PostgreSQL's CPU unread (elsewhere) is missed
    expect(targets.jobdeck_cpu_per_job).toMatchObject({ value: 176, met: true });
    const cpu = (postgres: number | null) =>
      evaluateTargets(
        buildResults(
          measurements({
            cpuPerJob: {
              raw: { worker: 12, postgres: 29 },
              jobdeck: { worker: 60, postgres },
              pgBoss: { worker: 16, postgres: 127 },
            },
          }),
        ),
      ).jobdeck_cpu_per_job;
    expect(cpu(120)).toMatchObject({ value: 180, met: true });
    expect(cpu(121)).toMatchObject({ value: 181, met: false });
    expect(cpu(null).met).toBe(false);
    expect(targets.add_to_start_p99).toMatchObject({ value: 15.01, met: false });
    expect(targets.worker_peak_rss).toMatchObject({ value: 200, met: true });
  });

  it('never counts a missing measurement (0 against a floor, NaN) as met', () => {
    const { targets } = buildResults(
      measurements({
        drain: { raw: 0, jobdeck: 0, pgBoss: 0 },
        progressToSubscriber: { p50: Number.NaN, p99: Number.NaN },
      }),
    );
    expect(targets.jobdeck_vs_raw.met).toBe(false);
    expect(targets.jobdeck_vs_pgboss.met).toBe(false);
    expect(targets.progress_to_subscriber_p99.met).toBe(false);
  });

  it('lists each target once in the printed table', () => {
    const rows = targetRows(buildResults(measurements()).targets);
    expect(Object.keys(rows)).toHaveLength(Object.keys(TARGETS).length);
    expect(Object.values(rows).every((row) => row.result === 'met')).toBe(true);
  });
});
