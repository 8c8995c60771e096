import type pg from 'pg';
import type { ParkingSample, StepsEvidence } from './checks.ts';

/** The side-effect tables the `steps_chain` task writes (soak/steps/tasks/steps_chain.ts). */
export async function createStepsSchema(pool: pg.Pool): Promise<void> {
  await pool.query(`
    create schema if not exists soak;
    create table if not exists soak.step_runs (
      id bigint generated always as identity primary key,
      job_id uuid not null, step text not null, attempt int not null, pid int not null,
      nonce text not null, at timestamptz not null default clock_timestamp());
    create table if not exists soak.step_effects (
      job_id uuid not null, step text not null, runs int not null, primary key (job_id, step));`);
}

/** Running jobs, parked jobs (on a sleep or wait not ended yet), jobs due, run steps completed. */
export async function sampleParking(pool: pg.Pool): Promise<ParkingSample> {
  const { rows } = await pool.query<Omit<ParkingSample, 'at'>>(
    `select
       (select count(*)::int from jobdeck.jobs where status = 'running') as running,
       (select count(*)::int from jobdeck.jobs j
         where j.status = 'queued' and exists (
           select 1 from jobdeck.job_steps s where s.job_id = j.id and s.kind <> 'run'
              and s.completed_at is null and s.wake_at > now())) as parked,
       (select count(*)::int from jobdeck.jobs
         where status in ('queued', 'retrying') and run_at <= now()) as ready,
       (select count(*)::int from jobdeck.job_steps
         where kind = 'run' and completed_at is not null) as steps_done`,
  );
  return { at: Date.now(), ...rows[0]! };
}

/** Jobs of `ids` parked on their wait for a signal right now. */
export async function waitingForSignal(pool: pg.Pool, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await pool.query<{ job_id: string }>(
    `select job_id from jobdeck.job_steps
      where job_id = any($1::uuid[]) and kind = 'wait' and completed_at is null`,
    [ids],
  );
  return rows.map((r) => r.job_id);
}

const ms = (column: string) => `(extract(epoch from ${column}) * 1000)::float8`;

/** Everything {@link judgeSteps} checks, read back after the run. */
export async function readStepsEvidence(
  pool: pg.Pool,
  sent: StepsEvidence['sent'],
  crashedPids: number[],
): Promise<StepsEvidence> {
  const jobs = await pool.query<StepsEvidence['jobs'][number]>(
    `select id, status, payload ->> 'expect' as expect, result,
            coalesce((select array_agg(distinct (e ->> 'attempt')::int)
                        from jsonb_array_elements(errors) e), '{}') as failed_attempts
       from jobdeck.jobs where type = 'steps_chain'`,
  );
  const steps = await pool.query<StepsEvidence['steps'][number]>(
    `select job_id, name, kind, result, attempt, ${ms('started_at')} as started_at,
            ${ms('completed_at')} as completed_at, ${ms('wake_at')} as wake_at, timed_out
       from jobdeck.job_steps`,
  );
  const runs = await pool.query<StepsEvidence['runs'][number]>(
    'select id::int, job_id, step, attempt, pid, nonce from soak.step_runs order by id',
  );
  const effects = await pool.query<StepsEvidence['effects'][number]>(
    'select job_id, step, runs from soak.step_effects',
  );
  const signals = await pool.query<StepsEvidence['signals'][number]>(
    `select job_id, data, ${ms('at')} as at, ${ms('consumed_at')} as consumed_at, consumed_by
       from jobdeck_private.job_signals`,
  );
  return {
    jobs: jobs.rows,
    steps: steps.rows,
    runs: runs.rows,
    effects: effects.rows,
    signals: signals.rows,
    sent,
    crashed_pids: crashedPids,
  };
}
