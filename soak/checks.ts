import type { KillResult, RestartResult } from './faults.ts';
import type { Ledger } from './load.ts';
import type { JobdeckProcess } from './processes.ts';
import type { Verification } from './queries.ts';
import type { FaultWindow, StreamReport } from './report.ts';

export interface Judgement {
  /** Broken guarantees: any of these fails the soak. */
  problems: string[];
  /** Worth a look, not a broken guarantee. */
  warnings: string[];
}

/** Holds the run against the guarantees in docs/reliability.md. */
export function judge(input: {
  checks: Verification;
  ledger: Ledger;
  jobs: number;
  gaveUpAfterMs: number | null;
  kill: KillResult | null;
  restart: RestartResult | null;
  processes: JobdeckProcess[];
  streams: StreamReport[];
  windows: FaultWindow[];
  rescueAfterMs: number;
}): Judgement {
  const { checks, ledger } = input;
  const problems: string[] = [];
  const warnings: string[] = [];
  const when = (n: number, message: string) => {
    if (n > 0) problems.push(`${n} ${message}`);
  };
  when(checks.missing, 'committed jobs are missing');
  when(
    checks.unfinished,
    `jobs still unfinished ${input.gaveUpAfterMs === null ? 'at the deadline' : `after ${input.gaveUpAfterMs / 1000} s without progress`}`,
  );
  when(checks.wrong_state, 'jobs ended in the wrong state');
  when(checks.duplicate_jobs, 'soak numbers have more than one job');
  when(ledger.partialBatches.length, 'bulk enqueues were partly committed');
  when(checks.missing_side_effects, 'side_effect jobs succeeded without their side effect');
  if (ledger.bulkJobs < input.jobs)
    problems.push(`the bulk enqueue stopped at ${ledger.bulkJobs} of ${input.jobs} jobs`);
  if (!input.kill || input.kill.rescue_seconds === null)
    problems.push('the killed worker’s running jobs were not picked up again');
  if (!input.restart?.recovered)
    problems.push('no job enqueued after the PostgreSQL restart succeeded');
  for (const p of input.processes)
    if (p.exit && !p.expectedExit)
      problems.push(
        `${p.name} exited unexpectedly (${p.exit.signal ?? `code ${p.exit.code}`}); see soak/results/logs/${p.name}.log`,
      );
  for (const s of input.streams) {
    for (const w of input.windows) {
      const after = s.after_faults[w.name];
      if (w.expectsReconnect && after?.reconnect_notice_s === null)
        problems.push(`${s.name} got no reconnect notice after ${w.name}`);
      if (after?.events_resumed_s === null)
        problems.push(`${s.name} got no events after ${w.name}`);
    }
    if (s.reopened > 0)
      warnings.push(`${s.name} had to be reopened ${s.reopened} time(s): ${s.errors.join(' | ')}`);
  }
  // Rescues of workers that were alive: their heartbeats stopped only because the database did.
  for (const [workerId, n] of Object.entries(checks.interrupted_by_worker)) {
    const pid = Number(/-(\d+)-[0-9a-f]+$/.exec(workerId)?.[1]);
    const p = input.processes.find((candidate) => candidate.pid === pid);
    if (p && !p.exit)
      warnings.push(
        `${n} attempts on ${p.name}, which never died, were rescued as interrupted (declared dead: no heartbeat for ${input.rescueAfterMs / 1000} s)`,
      );
  }
  // A known price of the deferred running mark (docs/performance.md): counted, not failed.
  if (checks.unexplained_duplicates > 0)
    warnings.push(
      `${checks.unexplained_duplicates} jobs ran twice with no re-run in their history (unmarked attempts on a killed worker)`,
    );
  if (checks.unacknowledged_found > 0)
    warnings.push(
      `${checks.unacknowledged_found} jobs exist whose enqueue call failed (the answer was lost)`,
    );
  if (ledger.apiErrors > 0)
    warnings.push(
      `${ledger.apiErrors} API enqueues failed (during the restart); last: ${ledger.lastApiError}`,
    );
  return { problems, warnings };
}
