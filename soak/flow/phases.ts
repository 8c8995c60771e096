import type pg from 'pg';
import { createJobdeck } from '../../src/client.ts';
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
  /** `flow_rated` jobs, and their task's rate limit (soak/flow/tasks/flow_rated.ts). */
  rated_jobs: number;
  rate_limit: number;
  rate_period_ms: number;
  /** How long the pause/resume phase keeps `flow_pausable` paused. */
  pause_ms: number;
  /** From a pause's commit to the last start it lets through, and from a resume to the next start. */
  pause_limit_ms: number;
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
 * was broken.
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

/**
 * The most of these times (ms) within any window of `periodMs`: each time opens a window
 * [t, t + period) and the times in it are counted (a sliding window over the sorted times).
 */
export function mostInWindow(times: number[], periodMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let j = 0;
  for (let i = 0; i < sorted.length; i++) {
    if (j < i) j = i;
    while (j < sorted.length && sorted[j]! < sorted[i]! + periodMs) j++;
    most = Math.max(most, j - i);
  }
  return most;
}

const ms = (x: number) => Math.round(x * 10) / 10;

/**
 * (c) A rate limit: `flow_rated` has `defineTask({ rateLimit: { limit: 50, period: '1s' } })`;
 * its backlog is queued beside the tenants' and runs through the 3 workers. Counts the most starts
 * in any 1 s window, sliding over the sorted start times: those of the rows (`started_at`, the
 * start transaction's time, which is the time GCRA decides on; judged) and those the bodies
 * recorded (reported: a body starts a few ms after its admission, by a varying amount, so its
 * clock can put one more start in a window than were admitted in it).
 */
export const rateLimitPhase: FlowPhase = {
  name: 'rate_limit',
  async prepare({ pool, settings, say }) {
    say(
      `rate limit: ${settings.rated_jobs} flow_rated jobs (${settings.rate_limit} per ${settings.rate_period_ms} ms)`,
    );
    await enqueueInBatches(
      pool,
      seqs(settings.rated_jobs).map((seq) => ({ type: 'flow_rated', payload: { seq } })),
      settings.enqueue_batch,
    );
  },
  async start() {},
  async check({ pool, settings }) {
    const { rows } = await pool.query<{ started: number; at: string; attempts: number }>(
      `select extract(epoch from started_at) * 1000 as started, result ->> 'at' as at, attempts
         from jobdeck.jobs where type = 'flow_rated' and status = 'succeeded'`,
    );
    const started = rows.map((r) => Number(r.started));
    const bodies = rows.map((r) => Number(r.at));
    const most = mostInWindow(started, settings.rate_period_ms);
    const mostBodies = mostInWindow(bodies, settings.rate_period_ms);
    const first = Math.min(...started);
    const last = Math.max(...started);
    const achieved = rows.length > 1 ? (rows.length - 1) / ((last - first) / 1000) : null;
    // Gaps between consecutive starts: GCRA spaces them at least period / limit apart (20 ms).
    const sorted = [...started].sort((a, b) => a - b);
    const gaps = sorted.slice(1).map((s, i) => s - sorted[i]!);
    gaps.sort((a, b) => a - b);
    const gapAt = (q: number) =>
      gaps.length > 0 ? ms(gaps[Math.min(gaps.length - 1, Math.floor(q * gaps.length))]!) : null;
    const waited = await pool.query<{ n: number }>(
      `select count(distinct e.job_id)::int as n from jobdeck.job_events e
         join jobdeck.jobs j on j.id = e.job_id
        where j.type = 'flow_rated' and e.message like 'rate limited:%'`,
    );
    const workers = await pool.query<{ n: number }>(
      `select count(distinct worker_id)::int as n from jobdeck.jobs where type = 'flow_rated'`,
    );
    // A job put back keeps its slot as run_at (sql/rate/admit_rated.sql): how long after it the
    // job started. A start more than the grace (50 ms here) late found its slot let go.
    const late = await pool.query<{ p50: number | null; p90: number | null; over_grace: number }>(
      `select percentile_cont(0.5) within group (order by ms) as p50,
              percentile_cont(0.9) within group (order by ms) as p90,
              count(*) filter (where ms > 50)::int as over_grace
         from (select extract(epoch from started_at - run_at) * 1000 as ms
                 from jobdeck.jobs where type = 'flow_rated' and run_at > created_at) x`,
    );
    const moreThanOne = rows.filter((r) => r.attempts !== 1).length;
    // The other phases' backlog (flow-a's fair turns, in the past) runs beside these jobs: how
    // many started while it lasted, and the rate achieved once it was gone.
    const backlog = await pool.query<{ last: number | null }>(
      `select extract(epoch from max(started_at)) * 1000 as last
         from jobdeck.jobs where type = 'flow_tenant'`,
    );
    const backlogEnd = backlog.rows[0]!.last === null ? null : Number(backlog.rows[0]!.last);
    const after = backlogEnd === null ? [] : sorted.filter((s) => s > backlogEnd);
    const limit = settings.rate_limit;
    return {
      figures: {
        limit: `${limit} per ${settings.rate_period_ms} ms`,
        jobs: settings.rated_jobs,
        succeeded: rows.length,
        most_starts_in_any_window: most,
        most_body_starts_in_any_window: mostBodies,
        achieved_starts_per_sec: achieved === null ? null : ms(achieved),
        first_to_last_start_s: rows.length > 1 ? ms((last - first) / 1000) : null,
        gap_between_starts_ms: {
          min: gapAt(0),
          p50: gapAt(0.5),
          p90: gapAt(0.9),
          max: gaps.length > 0 ? ms(gaps.at(-1)!) : null,
        },
        starts_before_the_tenant_backlog_drained:
          backlogEnd === null ? null : sorted.filter((s) => s <= backlogEnd).length,
        achieved_starts_per_sec_after_it:
          after.length > 1 ? ms((after.length - 1) / ((after.at(-1)! - after[0]!) / 1000)) : null,
        jobs_that_waited_for_the_rate: waited.rows[0]!.n,
        start_after_its_slot_ms: {
          p50: late.rows[0]!.p50 === null ? null : ms(late.rows[0]!.p50),
          p90: late.rows[0]!.p90 === null ? null : ms(late.rows[0]!.p90),
          more_than_50_ms: late.rows[0]!.over_grace,
        },
        jobs_on_more_than_one_attempt: moreThanOne,
        worker_processes_that_started_some: workers.rows[0]!.n,
      },
      problems: [
        ...(most > limit
          ? [`flow_rated started ${most} jobs within ${settings.rate_period_ms} ms, over ${limit}`]
          : []),
        ...(rows.length < settings.rated_jobs
          ? [`only ${rows.length} of ${settings.rated_jobs} flow_rated jobs succeeded`]
          : []),
        ...(moreThanOne > 0
          ? [`${moreThanOne} flow_rated jobs spent more than one attempt (waiting must not)`]
          : []),
      ],
    };
  },
};

/**
 * (d) Pause and resume mid-run: while the workers run, `flow_pausable` jobs arrive steadily (10
 * every 100 ms) and start at once; once some have started, the task type is paused
 * (`jobdeck.pause({ type })`) for `pause_ms`, then resumed, and the jobs keep arriving for a
 * while after. Times are ms since the epoch on this machine, whose clock PostgreSQL shares.
 *
 * A pause is in force for every start decided after it commits. The commit lies between the
 * moment `pause()` was called and the moment it returned; the judged figures are measured from the
 * call (`pause_called_at`, the earlier: the least favourable bound) and the figures from the
 * return are reported beside them. A start whose transaction began before the commit still
 * starts: its row's started_at (the start transaction's time; on the fast path, taken with no pause
 * in force, the worker's clock as it began the batch) is then before the commit, or a few ms after
 * it. So the figure is the last started_at before the resume minus the pause call (≤
 * `pause_limit_ms`; negative when the last start came before it), and no start may come later than
 * that limit until the resume. The resume is measured likewise from its call to the first start
 * after it.
 */
export function pauseResumePhase(): FlowPhase {
  const t = {
    pause_called_at: 0,
    pause_committed_at: 0,
    resume_called_at: 0,
    resume_committed_at: 0,
  };
  let heldByPause = 0;
  let released = 0;
  let enqueued = 0;
  const TYPE = 'flow_pausable';
  return {
    name: 'pause_resume',
    async prepare() {},
    async start({ pool, settings, say }) {
      const jobdeck = createJobdeck({ pool });
      let trickling = true;
      const trickle = (async () => {
        while (trickling) {
          await enqueueJobsOn(
            pool,
            seqs(10).map((i) => ({ type: TYPE, payload: { seq: enqueued + i } })),
          );
          enqueued += 10;
          await sleep(100);
        }
      })();
      try {
        // Pause while the type's jobs are flowing: once some have started.
        const until = Date.now() + 30_000;
        while (Date.now() < until) {
          const { rows } = await pool.query<{ n: number }>(
            `select count(*)::int as n from jobdeck.jobs where type = $1 and started_at is not null`,
            [TYPE],
          );
          if (rows[0]!.n >= 20) break;
          await sleep(100);
        }
        await sleep(500);
        t.pause_called_at = Date.now();
        const paused = await jobdeck.pause({ type: TYPE }, { reason: 'flow soak' });
        t.pause_committed_at = Date.now();
        heldByPause = paused.held;
        say(
          `pause/resume: paused ${TYPE} (${paused.held} waiting jobs held) for ${settings.pause_ms} ms`,
        );
        await sleep(settings.pause_ms);
        t.resume_called_at = Date.now();
        const resumed = await jobdeck.resume({ type: TYPE });
        t.resume_committed_at = Date.now();
        released = resumed.released;
        say(`pause/resume: resumed ${TYPE} (${resumed.released} held jobs released)`);
        await sleep(1500);
      } finally {
        trickling = false;
        await trickle;
        await jobdeck.close();
      }
    },
    async check({ pool, settings }) {
      const { rows } = await pool.query<{ started: number; at: string }>(
        `select extract(epoch from started_at) * 1000 as started, result ->> 'at' as at
           from jobdeck.jobs where type = $1 and status = 'succeeded'`,
        [TYPE],
      );
      const problems: string[] = [];
      if (t.pause_committed_at === 0) {
        problems.push('the pause/resume phase did not run its pause');
        return { figures: { jobs: enqueued }, problems };
      }
      const started = rows.map((r) => Number(r.started));
      const bodies = rows.map((r) => Number(r.at));
      const beforeResume = started.filter((s) => s < t.resume_called_at);
      const lastStart = beforeResume.length > 0 ? Math.max(...beforeResume) : null;
      const afterCommit = beforeResume.filter((s) => s > t.pause_committed_at);
      const lateStarts = beforeResume.filter(
        (s) => s > t.pause_called_at + settings.pause_limit_ms,
      );
      const bodiesInPause = bodies.filter(
        (b) => b > t.pause_committed_at && b < t.resume_called_at,
      );
      const afterResume = started.filter((s) => s >= t.resume_called_at);
      const nextStart = afterResume.length > 0 ? Math.min(...afterResume) : null;
      const pauseToLast = lastStart === null ? null : lastStart - t.pause_called_at;
      const resumeToNext = nextStart === null ? null : nextStart - t.resume_called_at;
      if (rows.length < enqueued)
        problems.push(`only ${rows.length} of ${enqueued} ${TYPE} jobs succeeded`);
      if (pauseToLast !== null && pauseToLast > settings.pause_limit_ms)
        problems.push(
          `a ${TYPE} job started ${ms(pauseToLast)} ms after the pause, over ${settings.pause_limit_ms} ms`,
        );
      if (lateStarts.length > 0)
        problems.push(`${lateStarts.length} ${TYPE} jobs started during the pause`);
      if (resumeToNext === null) problems.push(`no ${TYPE} job started after the resume`);
      else if (resumeToNext > settings.pause_limit_ms)
        problems.push(
          `the first ${TYPE} job after the resume started ${ms(resumeToNext)} ms after it, over ${settings.pause_limit_ms} ms`,
        );
      if (heldByPause + released === 0)
        problems.push(`the pause held no ${TYPE} job: nothing was waiting, so it measured nothing`);
      return {
        figures: {
          jobs: enqueued,
          succeeded: rows.length,
          pause_ms: settings.pause_ms,
          pause_call_ms: t.pause_committed_at - t.pause_called_at,
          resume_call_ms: t.resume_committed_at - t.resume_called_at,
          held_by_the_pause: heldByPause,
          released_by_the_resume: released,
          pause_to_last_start_ms: pauseToLast === null ? null : ms(pauseToLast),
          pause_commit_to_last_start_ms:
            lastStart === null ? null : ms(lastStart - t.pause_committed_at),
          starts_after_pause_commit: afterCommit.length,
          starts_during_pause_after_limit: lateStarts.length,
          bodies_started_after_pause_commit: bodiesInPause.length,
          last_body_start_after_pause_commit_ms:
            bodiesInPause.length > 0 ? ms(Math.max(...bodiesInPause) - t.pause_committed_at) : null,
          resume_to_next_start_ms: resumeToNext === null ? null : ms(resumeToNext),
          resume_commit_to_next_start_ms:
            nextStart === null ? null : ms(nextStart - t.resume_committed_at),
        },
        problems,
      };
    },
  };
}
