import os from 'node:os';
import type { KillResult, ListenerResult, RestartResult } from './faults.ts';
import { round } from './faults.ts';
import type { Ledger } from './load.ts';
import type { ProcessFigures } from './per-process.ts';
import type { Verification } from './queries.ts';
import type { StreamStats } from './streams.ts';

/** A fault as the streams saw it. */
export interface FaultWindow {
  name: 'kill_worker' | 'terminate_listeners' | 'restart_postgres';
  /** When the fault began (restart: PostgreSQL stopping); reconnect notices count from here. */
  from: number;
  /** When it was over (kill: the kill; listeners: the terminate; restart: PostgreSQL back up). */
  at: number;
  /** Whether each stream is expected to get a reconnect notice for it. */
  expectsReconnect: boolean;
}

export interface StreamReport {
  name: string;
  events: number;
  reconnect_notices: number;
  reopened: number;
  errors: string[];
  /**
   * Per fault: seconds from its start to the reconnect notice, and from its end to the next
   * change event.
   */
  after_faults: Record<
    string,
    { reconnect_notice_s: number | null; events_resumed_s: number | null }
  >;
}

/** How each stream came through each fault. */
export function streamReports(
  streams: StreamStats[],
  faults: FaultWindow[],
  endedAt: number,
): StreamReport[] {
  return streams.map((s) => {
    const after: StreamReport['after_faults'] = {};
    faults.forEach((fault, i) => {
      const until = faults[i + 1]?.at ?? endedAt;
      const notice = s.reconnectTimes.find((t) => t >= fault.from && t < until);
      const event = s.eventTimes.find((t) => t > fault.at && t < until);
      after[fault.name] = {
        reconnect_notice_s: notice === undefined ? null : round((notice - fault.from) / 1000),
        events_resumed_s: event === undefined ? null : round((event - fault.at) / 1000),
      };
    });
    return {
      name: s.name,
      events: s.events,
      reconnect_notices: s.reconnects,
      reopened: s.reopened,
      errors: s.errors,
      after_faults: after,
    };
  });
}

export interface SoakResults {
  jobs: number;
  succeeded: number;
  failed_expected: number;
  lost: number;
  duplicate_side_effects: number;
  rescue_seconds: number | null;
  listener_reconnects: number;
  pg_restart_recovered: boolean;
  ok: boolean;
  problems: string[];
  warnings: string[];
  checks: Omit<
    Verification,
    'expected' | 'succeeded' | 'failed_expected' | 'duplicate_side_effects'
  >;
  enqueue: Record<string, unknown>;
  faults: {
    kill_worker: KillResult | null;
    terminate_listeners: ListenerResult | null;
    restart_postgres: RestartResult | null;
  };
  streams: StreamReport[];
  replacements: { name: string; exit: string; at: string; replaced_by: string }[];
  processes: ProcessFigures[];
  /** The PgBouncer the soak ran (null with `--no-pgbouncer`). */
  pgbouncer: {
    pool_mode: 'transaction';
    through_it: string[];
    clients_at_start: number | null;
    transactions: number | null;
  } | null;
  durations_s: Record<string, number>;
  throughput_jobs_per_sec: number;
  settings: Record<string, unknown>;
  machine: Record<string, unknown>;
}

export function enqueueFigures(ledger: Ledger): Record<string, unknown> {
  return {
    bulk_jobs: ledger.bulkJobs,
    bulk_batches: ledger.bulkBatches,
    bulk_errors: ledger.bulkErrors,
    bulk_committed_despite_error: ledger.bulkCommittedDespiteError,
    partial_batches: ledger.partialBatches,
    rest_jobs: ledger.rest,
    graphql_jobs: ledger.graphql,
    api_errors: ledger.apiErrors,
    last_api_error: ledger.lastApiError || null,
    unacknowledged: ledger.unacknowledged.length,
  };
}

export function machineInfo(pgVersion: string): Record<string, unknown> {
  return {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memory_gib: round(os.totalmem() / 2 ** 30, 1),
    load_average_at_start: os.loadavg().map((l) => round(l)),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres: pgVersion,
  };
}

/** The headline table, then the faults and the streams. */
export function printResults(r: SoakResults): void {
  const v = (x: unknown) => (x === null || x === undefined ? '—' : String(x));
  console.table({
    jobs: { value: r.jobs },
    succeeded: { value: r.succeeded },
    'failed as planned (flaky)': { value: r.failed_expected },
    lost: { value: r.lost },
    'duplicate side effects': { value: r.duplicate_side_effects },
    'rescue seconds (kill -9 → picked up again)': { value: v(r.rescue_seconds) },
    'listener reconnect notices': { value: r.listener_reconnects },
    'pg restart recovered': { value: r.pg_restart_recovered },
    'jobs/s (first enqueue → all finished)': { value: r.throughput_jobs_per_sec },
  });
  const k = r.faults.kill_worker;
  const l = r.faults.terminate_listeners;
  const p = r.faults.restart_postgres;
  console.log(
    [
      k
        ? `kill -9 ${k.worker} (pid ${k.pid}): ${k.running_jobs} running, ${k.locked_jobs} locked; released by the rescue after ${v(k.released_seconds)} s, all running again or done after ${v(k.rescue_seconds)} s`
        : 'kill -9: not done',
      l ? `LISTEN connections terminated: ${JSON.stringify(l.terminated)}` : 'listeners: not done',
      p
        ? `PostgreSQL down ${p.down_seconds} s; first job enqueued after it came back succeeded ${v(p.first_new_job_succeeded_after_s)} s later; processes lost: ${p.processes_lost.length === 0 ? 'none' : p.processes_lost.join(', ')}`
        : 'PostgreSQL restart: not done',
      `re-runs: ${r.checks.interrupted_attempts} interrupted attempts, ${r.checks.orphans_requeued} orphans requeued, ${r.checks.jobs_rerun} jobs ran extra attempts`,
    ].join('\n'),
  );
  console.table(
    Object.fromEntries(
      r.streams.map((s) => [
        s.name,
        {
          events: s.events,
          'reconnect notices': s.reconnect_notices,
          reopened: s.reopened,
          ...Object.fromEntries(
            Object.entries(s.after_faults).map(([fault, a]) => [
              `${fault} → events (s)`,
              v(a.events_resumed_s),
            ]),
          ),
        },
      ]),
    ),
  );
  if (r.problems.length > 0) console.log(`PROBLEMS:\n- ${r.problems.join('\n- ')}`);
  if (r.warnings.length > 0) console.log(`warnings:\n- ${r.warnings.join('\n- ')}`);
}
