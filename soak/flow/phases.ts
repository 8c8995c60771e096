import type pg from 'pg';
import { enqueueJobsOn, type JobSpec } from '../../src/jobs/enqueue.ts';

/** What a phase of the flow soak gets: the database, the run's settings and a logger. */
export interface FlowContext {
  pool: pg.Pool;
  settings: FlowSettings;
  say: (line: string) => void;
}

/** The flow soak's sizes (`-- --flow`, `--quick`, `--jobs N` for the big tenant). */
export interface FlowSettings {
  big_tenant_jobs: number;
  small_tenant_jobs: number;
  capped_jobs: number;
  cap: number;
  /** The small tenant's wait above this counts as broken fairness ("within seconds"). */
  small_tenant_wait_limit_s: number;
  /** `--fifo`: the tenants' task type without fair turns, to compare; the wait is not judged. */
  fairness: 'org' | 'off';
  enqueue_batch: number;
}

/** A phase's verdict: figures for the results file, and the limits it found broken. */
export interface PhaseReport {
  figures: Record<string, unknown>;
  problems: string[];
}

/**
 * One flow-control feature under load. Every phase's `prepare` runs before the workers start
 * (settings, a backlog), then every phase's `start` while they run, one after another (so their
 * jobs mix); once every job has finished, each phase's `check` reads what happened and says what
 * was broken. Further limits (a rate limit, pause/resume) are more phases.
 */
export interface FlowPhase {
  readonly name: string;
  /** Before the workers start: settings in the database, a backlog. */
  prepare(ctx: FlowContext): Promise<void>;
  /** While the workers run: the phase's live jobs or actions; resolves once they are done. */
  start(ctx: FlowContext): Promise<void>;
  /** After the drain: the phase's figures and broken limits. */
  check(ctx: FlowContext): Promise<PhaseReport>;
}

async function enqueueInBatches(pool: pg.Pool, specs: JobSpec[], batch: number): Promise<void> {
  for (let i = 0; i < specs.length; i += batch)
    await enqueueJobsOn(pool, specs.slice(i, i + batch));
}

const seqs = (n: number) => Array.from({ length: n }, (_, seq) => seq);

/** The most intervals open at once; an end at the same ms as a start closes first. */
export function mostAtOnce(spans: { from: number; to: number }[]): number {
  const points = spans.flatMap((s) => [
    { at: s.from, d: 1 },
    { at: s.to, d: -1 },
  ]);
  points.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let most = 0;
  for (const p of points) {
    now += p.d;
    most = Math.max(most, now);
  }
  return most;
}

/**
 * (a) A concurrency cap: `flow_capped` has `defineTask({ maxConcurrent: 3 })`; its jobs run on 3
 * worker processes beside the tenants' backlog. Counts the most task bodies that overlapped
 * (each returns when it ran), which must not exceed the cap, and how often jobs were held.
 */
export const concurrencyCapPhase: FlowPhase = {
  name: 'concurrency_cap',
  async prepare({ pool, settings, say }) {
    say(
      `concurrency cap: ${settings.capped_jobs} flow_capped jobs (cap ${settings.cap}, 20 ms each)`,
    );
    await enqueueInBatches(
      pool,
      seqs(settings.capped_jobs).map((seq) => ({ type: 'flow_capped', payload: { seq } })),
      settings.enqueue_batch,
    );
  },
  async start() {},
  async check({ pool, settings }) {
    const { rows } = await pool.query<{ from: string; to: string }>(
      `select result ->> 'from' as "from", result ->> 'to' as "to"
         from jobdeck.jobs where type = 'flow_capped' and status = 'succeeded'`,
    );
    const spans = rows.map((r) => ({ from: Number(r.from), to: Number(r.to) }));
    const held = await pool.query<{ n: number }>(
      `select count(*)::int as n from jobdeck.job_events e join jobdeck.jobs j on j.id = e.job_id
        where j.type = 'flow_capped' and e.message like 'held:%'`,
    );
    const most = mostAtOnce(spans);
    return {
      figures: {
        cap: settings.cap,
        jobs: settings.capped_jobs,
        succeeded: spans.length,
        most_running_at_once: most,
        held_events: held.rows[0]!.n,
      },
      problems: [
        ...(most > settings.cap
          ? [`flow_capped ran ${most} at once, over its cap of ${settings.cap}`]
          : []),
        ...(spans.length < settings.capped_jobs
          ? [`only ${spans.length} of ${settings.capped_jobs} flow_capped jobs succeeded`]
          : []),
      ],
    };
  },
};

/**
 * (b) Fair turns: organisation `flow-a` enqueues its backlog (100,000 jobs by default) before the
 * workers start; a second after they start, `flow-b` enqueues 10. The small tenant's wait is from just before its enqueue to the start of
 * the last of its jobs (their bodies' clocks); it also counts how many of A's jobs started in
 * that time and how many were still waiting when B arrived (what B would wait behind first-in
 * first-out).
 */
export function fairTurnsPhase(): FlowPhase {
  let smallEnqueuedAt = 0;
  let bigWaitingAtSmall = 0;
  return {
    name: 'fair_turns',
    async prepare({ pool, settings, say }) {
      say(
        `fair turns (${settings.fairness}): ${settings.big_tenant_jobs.toLocaleString('en-US')} jobs of flow-a`,
      );
      await enqueueInBatches(
        pool,
        seqs(settings.big_tenant_jobs).map((seq) => ({
          type: 'flow_tenant',
          payload: { seq },
          orgId: 'flow-a',
        })),
        settings.enqueue_batch,
      );
    },
    async start({ pool, settings, say }) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const waiting = await pool.query<{ n: number }>(
        `select count(*)::int as n from jobdeck.jobs where org_id = 'flow-a' and status = 'queued'`,
      );
      bigWaitingAtSmall = waiting.rows[0]!.n;
      say(
        `fair turns: ${settings.small_tenant_jobs} jobs of flow-b behind ${bigWaitingAtSmall} waiting of flow-a`,
      );
      smallEnqueuedAt = Date.now();
      await enqueueJobsOn(
        pool,
        seqs(settings.small_tenant_jobs).map((seq) => ({
          type: 'flow_tenant',
          payload: { seq },
          orgId: 'flow-b',
        })),
      );
    },
    async check({ pool, settings }) {
      const small = await pool.query<{ at: string }>(
        `select result ->> 'at' as at from jobdeck.jobs where org_id = 'flow-b' and status = 'succeeded'`,
      );
      const lastSmall = Math.max(...small.rows.map((r) => Number(r.at)));
      const waitS = small.rows.length > 0 ? (lastSmall - smallEnqueuedAt) / 1000 : null;
      const big = await pool.query<{ during: number; last: string | null; n: number }>(
        `select count(*) filter (where (result ->> 'at')::bigint between $1 and $2)::int as during,
                max((result ->> 'at')::bigint)::text as last, count(*)::int as n
           from jobdeck.jobs where org_id = 'flow-a' and status = 'succeeded'`,
        [smallEnqueuedAt, lastSmall],
      );
      const b = big.rows[0]!;
      const problems: string[] = [];
      if (small.rows.length < settings.small_tenant_jobs)
        problems.push(
          `only ${small.rows.length} of flow-b's ${settings.small_tenant_jobs} jobs succeeded`,
        );
      if (b.n < settings.big_tenant_jobs)
        problems.push(`only ${b.n} of flow-a's ${settings.big_tenant_jobs} jobs succeeded`);
      if (
        settings.fairness === 'org' &&
        waitS !== null &&
        waitS > settings.small_tenant_wait_limit_s
      )
        problems.push(
          `flow-b waited ${waitS.toFixed(2)} s for its ${settings.small_tenant_jobs} jobs to start, over ${settings.small_tenant_wait_limit_s} s`,
        );
      return {
        figures: {
          fairness: settings.fairness,
          big_tenant_jobs: settings.big_tenant_jobs,
          small_tenant_jobs: settings.small_tenant_jobs,
          big_tenant_waiting_when_small_enqueued: bigWaitingAtSmall,
          small_tenant_wait_s: waitS === null ? null : Math.round(waitS * 1000) / 1000,
          big_tenant_jobs_started_meanwhile: b.during,
          big_tenant_backlog_drained_after_s:
            b.last === null ? null : Math.round(Number(b.last) - smallEnqueuedAt) / 1000,
        },
        problems,
      };
    },
  };
}
