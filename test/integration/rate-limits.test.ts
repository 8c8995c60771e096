import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { InvalidArgumentError, InvalidPayloadError } from '../../src/errors.ts';
import { loadTasks, type TaskRegistry } from '../../src/jobs/registry.ts';
import { countHeldJobs, countWaitingByReason } from '../../src/jobs/monitoring.ts';
import { createDb } from '../../src/db/pool.ts';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';
import { ROOT, startCli, workerEnv } from '../helpers/cli.ts';

type Child = Awaited<ReturnType<typeof startCli>>;

const TASKS_DIR = path.join(ROOT, 'test/fixtures/rate-tasks');

/**
 * Rate limits and per-key concurrency limits (issue 20, items 2 and 3), on two `jobdeck worker`
 * processes sharing one database: whatever either process starts, the limits hold across both.
 * Figures come from the rows (started_at, written in the transaction that admitted the start) and,
 * for overlap, from the spans the tasks record themselves.
 */
describe('rate limits and per-key concurrency limits across two worker processes', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;
  let tasks: TaskRegistry;
  let dataDir: string;
  let db: ReturnType<typeof createDb>;
  const children: Child[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    jobdeck = createJobdeck({ pool: t.pool });
    db = createDb(t.pool);
    dataDir = mkdtempSync(path.join(tmpdir(), 'jobdeck-rate-'));
    tasks = await loadTasks(TASKS_DIR);
    await registerTasks(t, tasks);
    await t.pool.query(
      `create table test_spans (id serial primary key, job_id uuid, org_id text,
                                started_at timestamptz not null, ended_at timestamptz)`,
    );
    const env = workerEnv(t.url, TASKS_DIR, {
      JOBDECK_DATA_DIR: dataDir,
      JOBDECK_POLL_INTERVAL_MS: '100',
      JOBDECK_LOG_LEVEL: 'warn',
      JOBDECK_CONCURRENCY: '5',
      JOBDECK_LOCAL_QUEUE_SIZE: '0',
    });
    children.push(...(await Promise.all([startCli(['worker'], env), startCli(['worker'], env)])));
  }, 60_000);
  afterAll(async () => {
    const running = children.splice(0);
    for (const c of running) c.child.kill('SIGTERM');
    await Promise.all(running.map((c) => c.exited));
    await db?.destroy();
    await jobdeck.close();
    await t?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function settled(ids: string[]): Promise<boolean> {
    const { rows } = await t.pool.query<{ n: number }>(
      `select count(*)::int as n from jobdeck.jobs
        where id = any($1) and status in ('succeeded', 'failed', 'cancelled')`,
      [ids],
    );
    return rows[0]!.n === ids.length;
  }

  async function waitSettled(ids: string[], what: string): Promise<void> {
    await waitFor(() => settled(ids), { timeoutMs: 60_000, what }).catch((error: unknown) => {
      for (const c of children) console.error(c.output());
      throw error;
    });
  }

  /** The most starts of these jobs within any window of `periodMs` (per `by` when given). */
  async function peakStarts(ids: string[], periodMs: number, by = `''`): Promise<number> {
    const { rows } = await t.pool.query<{ peak: number }>(
      `select coalesce(max(n), 0)::int as peak from (
         select count(*) over (partition by ${by} order by started_at
                               range between current row and $2::bigint * interval '1 millisecond'
                                                               - interval '1 microsecond' following) as n
           from jobdeck.jobs where id = any($1)) w`,
      [ids, periodMs],
    );
    return rows[0]!.peak;
  }

  async function summary(ids: string[]) {
    const { rows } = await t.pool.query<{
      status: string;
      attempts: number;
      held_reason: string | null;
      n: number;
    }>(
      `select status, attempts, held_reason, count(*)::int as n from jobdeck.jobs
        where id = any($1) group by 1, 2, 3 order by 1, 2`,
      [ids],
    );
    return rows;
  }

  async function eventsLike(ids: string[], pattern: string): Promise<string[]> {
    const { rows } = await t.pool.query<{ message: string }>(
      `select message from jobdeck.job_events where job_id = any($1) and message like $2`,
      [ids, pattern],
    );
    return rows.map((r) => r.message);
  }

  it('starts at most 5 jobs of a type in any 1 s window, none failed, each on its first attempt', async () => {
    const jobs = await jobdeck.enqueueJobs(Array.from({ length: 30 }, () => ({ type: 'rated' })));
    const ids = jobs.map((j) => j.id);
    await waitSettled(ids, 'the 30 rate-limited jobs');

    expect(await summary(ids)).toEqual([
      { status: 'succeeded', attempts: 1, held_reason: null, n: 30 },
    ]);
    const peak = await peakStarts(ids, 1000);
    console.info(`rated (5 per 1 s), two workers: most starts in any 1 s window ${peak}`);
    expect(peak).toBeLessThanOrEqual(5);
    // Both processes started some, and jobs over the rate waited (not held, not failed).
    const { rows } = await t.pool.query<{ n: number }>(
      'select count(distinct worker_id)::int as n from jobdeck.jobs where id = any($1)',
      [ids],
    );
    expect(rows[0]!.n).toBe(2);
    const waits = await eventsLike(ids, 'rate limited:%');
    expect(waits.length).toBeGreaterThan(0);
    expect(waits[0]).toMatch(/^rate limited: task type "rated" \(5 per 1 s\), next at \d{4}-/);
    expect(await eventsLike(ids, 'held:%')).toEqual([]);
  });

  it('reaches a 20 per second limit without passing it: jobs put back get successive slots', async () => {
    const jobs = await jobdeck.enqueueJobs(
      Array.from({ length: 60 }, () => ({ type: 'rated_fast' })),
    );
    const ids = jobs.map((j) => j.id);
    await waitSettled(ids, 'the 60 jobs limited to 20 per second');

    expect(await summary(ids)).toEqual([
      { status: 'succeeded', attempts: 1, held_reason: null, n: 60 },
    ]);
    expect(await peakStarts(ids, 1000)).toBeLessThanOrEqual(20);
    // Each job put back was told a slot of its own, whichever worker put it back: slots at least
    // a step apart ((1 s + 50 ms grace) / 20 = 52.5 ms; the events print whole milliseconds).
    const slots = (await eventsLike(ids, 'rate limited:%'))
      .map((m) => Date.parse(/next at (\S+)$/.exec(m)![1]!))
      .sort((a, b) => a - b);
    expect(slots.length).toBeGreaterThan(30);
    const gaps = slots.slice(1).map((at, i) => at - slots[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(52);
    // The rate reached is left to the flow soak (docs/performance.md); printed here.
    const { rows } = await t.pool.query<{ span: number }>(
      `select extract(epoch from max(started_at) - min(started_at))::float as span
         from jobdeck.jobs where id = any($1)`,
      [ids],
    );
    console.info(
      `rated_fast (20 per 1 s), two workers: ${(59 / rows[0]!.span).toFixed(1)} starts/s`,
    );
  });

  it('gives each key of a per-key rate limit a budget of its own', async () => {
    const jobs = await jobdeck.enqueueJobs([
      ...Array.from({ length: 6 }, () => ({ type: 'rated_by_account', payload: { account: 'a' } })),
      ...Array.from({ length: 6 }, () => ({ type: 'rated_by_account', payload: { account: 7 } })),
    ]);
    expect(new Set(jobs.map((j) => j.rate_key))).toEqual(new Set(['a', '7']));
    const ids = jobs.map((j) => j.id);
    await waitSettled(ids, 'the per-account jobs');

    expect(await summary(ids)).toEqual([
      { status: 'succeeded', attempts: 1, held_reason: null, n: 12 },
    ]);
    expect(await peakStarts(ids, 1000, 'rate_key')).toBeLessThanOrEqual(2);
    // Each account has its own budget: together they started more than one account's 2 per
    // second allows in some window (the two keys run side by side, not one after the other).
    const { rows } = await t.pool.query<{ first_b: Date; last_a: Date }>(
      `select min(started_at) filter (where rate_key = '7') as first_b,
              max(started_at) filter (where rate_key = 'a') as last_a
         from jobdeck.jobs where id = any($1)`,
      [ids],
    );
    expect(rows[0]!.first_b.getTime()).toBeLessThan(rows[0]!.last_a.getTime());
    const waits = await eventsLike(ids, 'rate limited:%');
    expect(waits.some((m) => m.includes('task type "rated_by_account" key "a" (2 per 1 s)'))).toBe(
      true,
    );
  });

  it('applies a queue rate limit set at run time, and lifts it when removed', async () => {
    expect(await jobdeck.setQueueRateLimit('exports', 4, '1s')).toBe(4);
    const { rows: stored } = await t.pool.query(
      `select scope, name, max_starts, extract(epoch from period)::float as seconds, key_spec
         from jobdeck_private.rate_limits where scope = 'queue'`,
    );
    expect(stored).toEqual([
      { scope: 'queue', name: 'exports', max_starts: 4, seconds: 1, key_spec: null },
    ]);
    const jobs = await jobdeck.enqueueJobs(
      Array.from({ length: 12 }, () => ({ type: 'plain', queue: 'exports' })),
    );
    const ids = jobs.map((j) => j.id);
    // While they wait, the row, jobStats and /metrics' figures say why.
    await waitFor(
      async () => {
        const { rows } = await t.pool.query<{ n: number }>(
          `select count(*)::int as n from jobdeck.jobs where id = any($1) and held_reason like 'rate limited: queue "exports" (4 per 1 s)%'`,
          [ids],
        );
        if (rows[0]!.n === 0) return false;
        const stats = await jobdeck.jobStats();
        const waiting = await countWaitingByReason(db);
        const held = await countHeldJobs(db);
        const queue = stats.byQueue.find((q) => q.queue === 'exports');
        return (
          stats.waiting.rateLimit > 0 &&
          waiting.rate_limit > 0 &&
          (stats.waiting.byReason.rate_limit ?? 0) > 0 &&
          (queue?.heldBy.rate_limit ?? 0) > 0 &&
          queue?.rateLimit?.maxStarts === 4 &&
          queue.rateLimit.periodMs === 1000 &&
          (stats.byType.find((x) => x.type === 'plain')?.heldBy.rate_limit ?? 0) > 0 &&
          held.some((h) => h.reason === 'rate_limit' && h.type === 'plain' && h.queue === 'exports')
        );
      },
      { timeoutMs: 20_000, what: 'a job waiting for the queue rate limit, counted as such' },
    );
    await waitSettled(ids, 'the queue jobs');
    expect(await summary(ids)).toEqual([
      { status: 'succeeded', attempts: 1, held_reason: null, n: 12 },
    ]);
    expect(await peakStarts(ids, 1000)).toBeLessThanOrEqual(4);

    expect(await jobdeck.setQueueRateLimit('exports', null)).toBeNull();
    const { rows: left } = await t.pool.query(
      `select 1 from jobdeck_private.rate_limits where scope = 'queue'`,
    );
    expect(left).toEqual([]);
  });

  it('gives each key of a per-key queue rate limit a budget of its own, refusing jobs without one', async () => {
    expect(
      await jobdeck.setQueueRateLimit('perkey', 2, '1s', { key: { payload: 'account' } }),
    ).toBe(2);
    try {
      const jobs = await jobdeck.enqueueJobs([
        ...Array.from({ length: 5 }, () => ({
          type: 'plain',
          queue: 'perkey',
          payload: { account: 'a' },
        })),
        ...Array.from({ length: 5 }, () => ({
          type: 'plain',
          queue: 'perkey',
          payload: { account: 'b' },
        })),
      ]);
      expect(new Set(jobs.map((j) => j.queue_rate_key))).toEqual(new Set(['a', 'b']));
      const ids = jobs.map((j) => j.id);
      await waitSettled(ids, 'the per-key queue jobs');
      expect(await summary(ids)).toEqual([
        { status: 'succeeded', attempts: 1, held_reason: null, n: 10 },
      ]);
      expect(await peakStarts(ids, 1000, 'queue_rate_key')).toBeLessThanOrEqual(2);
      expect(await peakStarts(ids, 1000)).toBeGreaterThan(2);
      const waits = await eventsLike(ids, 'rate limited:%');
      expect(waits.some((m) => m.includes('queue "perkey" key "a" (2 per 1 s)'))).toBe(true);

      const before = await t.pool.query(`select count(*)::int as n from jobdeck.jobs`);
      await expect(
        jobdeck.enqueueJobs([{ type: 'plain', queue: 'perkey', payload: { other: 1 } }]),
      ).rejects.toThrow(
        /queue "perkey" has a rate limit per payload field "account": the payload has no such field/,
      );
      const after = await t.pool.query(`select count(*)::int as n from jobdeck.jobs`);
      expect(after.rows).toEqual(before.rows);
    } finally {
      await jobdeck.setQueueRateLimit('perkey', null);
    }
  });

  it('puts a job back without spending an attempt when its task says it is rate limited', async () => {
    const [thrown, viaContext, forever] = await jobdeck.enqueueJobs([
      { type: 'busy_api', payload: { times: 2 } },
      { type: 'busy_api', payload: { times: 1, viaContext: true } },
      { type: 'busy_api', payload: { times: 1000 } },
    ]);
    const ids = [thrown!.id, viaContext!.id];
    await waitSettled(ids, 'the jobs whose API said 429');

    const { rows } = await t.pool.query<{
      status: string;
      attempts: number;
      rate_deferrals: number;
      result: unknown;
      errors: unknown[];
    }>(
      `select status, attempts, rate_deferrals, result, errors from jobdeck.jobs where id = any($1)
        order by rate_deferrals desc`,
      [ids],
    );
    // maxAttempts is 1: had a deferral cost an attempt, these jobs would have failed.
    expect(rows).toEqual([
      { status: 'succeeded', attempts: 1, rate_deferrals: 2, result: { deferrals: 2 }, errors: [] },
      { status: 'succeeded', attempts: 1, rate_deferrals: 1, result: { deferrals: 1 }, errors: [] },
    ]);
    const events = await eventsLike([thrown!.id], '%rate limited by the task%');
    expect(events.length).toBeGreaterThanOrEqual(2);
    // The one that says so forever is still waiting its turn, attempts unspent, and says why.
    const { rows: waiting } = await t.pool.query<{ spent: number; rate_deferrals: number }>(
      `select attempts - (status = 'running')::int as spent, rate_deferrals from jobdeck.jobs where id = $1`,
      [forever!.id],
    );
    expect(waiting[0]!.spent).toBe(0);
    expect(waiting[0]!.rate_deferrals).toBeGreaterThanOrEqual(1);
    await jobdeck.cancelJob(forever!.id);
  });

  it('runs at most 2 jobs per key at once across two workers, holding the rest with the reason in the row', async () => {
    const jobs = await jobdeck.enqueueJobs([
      ...Array.from({ length: 8 }, () => ({
        type: 'keyed_span',
        payload: { account: 'acme', sleepMs: 300 },
      })),
      ...Array.from({ length: 8 }, () => ({
        type: 'keyed_span',
        payload: { account: 'globex', sleepMs: 300 },
      })),
    ]);
    const ids = jobs.map((j) => j.id);
    expect(new Set(jobs.map((j) => j.concurrency_key))).toEqual(new Set(['acme', 'globex']));
    const heldRow = await waitFor(
      async () => {
        const { rows } = await t.pool.query<{ held_reason: string; reason: string }>(
          `select held_reason, jobdeck.wait_reason(held_at, held_reason) as reason
             from jobdeck.jobs where id = any($1) and held_at is not null limit 1`,
          [ids],
        );
        return rows[0];
      },
      { timeoutMs: 20_000, what: 'a job held by the per-key limit' },
    );
    expect(heldRow.held_reason).toMatch(
      /^held: task type "keyed_span" is at its concurrency limit for key "(acme|globex)" \(2\)$/,
    );
    expect(heldRow.reason).toBe('key_limit');
    await waitSettled(ids, 'the per-key jobs');
    expect(await summary(ids)).toEqual([
      { status: 'succeeded', attempts: 1, held_reason: null, n: 16 },
    ]);
    const { rows } = await t.pool.query<{ org: string; peak: number }>(
      `select s.org_id as org,
              max((select count(*)::int from test_spans x
                    where x.org_id = s.org_id and x.started_at <= s.started_at and x.ended_at > s.started_at)) as peak
         from test_spans s where s.job_id = any($1) group by s.org_id order by 1`,
      [ids],
    );
    console.info(`keyed_span (2 per key), two workers: ${JSON.stringify(rows)}`);
    expect(rows.map((r) => r.org)).toEqual(['acme', 'globex']);
    for (const row of rows) expect(row.peak).toBeLessThanOrEqual(2);
    // The keys ran side by side: more than 2 at once overall at some point.
    const overall = await t.pool.query<{ peak: number }>(
      `select max((select count(*)::int from test_spans x
                    where x.job_id = any($1) and x.started_at <= s.started_at and x.ended_at > s.started_at)) as peak
         from test_spans s where s.job_id = any($1)`,
      [ids],
    );
    expect(overall.rows[0]!.peak).toBeGreaterThan(2);
  });

  it("shows each queue's limits, fairness and pause, and why its jobs wait, in jobStats", async () => {
    await jobdeck.setQueueConcurrency('flowq', 3);
    await jobdeck.setQueueRateLimit('flowq', 7, '2s');
    await jobdeck.setQueueFairness('flowq', 'off');
    await jobdeck.pause({ queue: 'flowq' }, { reason: 'maintenance' });
    try {
      const [job] = await jobdeck.enqueueJobs([{ type: 'plain', queue: 'flowq' }]);
      await waitFor(
        async () => {
          const stats = await jobdeck.jobStats();
          return (stats.byQueue.find((q) => q.queue === 'flowq')?.heldBy.paused ?? 0) > 0;
        },
        { timeoutMs: 20_000, what: 'the paused queue job counted as paused' },
      );
      const stats = await jobdeck.jobStats();
      expect(stats.byQueue.find((q) => q.queue === 'flowq')).toEqual({
        queue: 'flowq',
        queued: 1,
        running: 0,
        retrying: 0,
        heldBy: { paused: 1 },
        concurrencyLimit: 3,
        rateLimit: { maxStarts: 7, periodMs: 2000, key: null },
        fairness: 'off',
        paused: 'paused: queue "flowq" (maintenance)',
      });
      expect(stats.waiting.byReason.paused).toBeGreaterThanOrEqual(1);
      const held = await countHeldJobs(db);
      expect(held).toContainEqual({ reason: 'paused', type: 'plain', queue: 'flowq', n: 1 });
      await jobdeck.resume({ queue: 'flowq' });
      await waitSettled([job!.id], 'the queue job after the resume');
    } finally {
      await jobdeck.resume({ queue: 'flowq' });
      await jobdeck.setQueueConcurrency('flowq', null);
      await jobdeck.setQueueRateLimit('flowq', null);
      await jobdeck.setQueueFairness('flowq', null);
    }
  });

  it('classifies every reason a waiting job is kept back (jobdeck.wait_reason)', async () => {
    const cases: [string | null, boolean, string | null][] = [
      ['paused: queue "emails" (SMTP down)', true, 'paused'],
      ['paused: everything', true, 'paused'],
      [
        'held: organisation "acme" is at its concurrency limit for task type "sync" (5)',
        true,
        'org_limit',
      ],
      ['held: organisation "acme" is at its concurrency limit (5)', true, 'org_limit'],
      [
        'held: task type "sync_account" is at its concurrency limit for key "a-17" (2)',
        true,
        'key_limit',
      ],
      ['held: task type "resize_image" is at its concurrency limit (3)', true, 'concurrency_limit'],
      ['held: queue "reports" is at its concurrency limit (3)', true, 'concurrency_limit'],
      [
        'rate limited: task type "rated" (5 per 1 s), next at 2026-12-06T15:04:05.200Z',
        false,
        'rate_limit',
      ],
      ['rate limited by the task, retry at 2026-12-06T15:04:05Z', false, 'task_rate_limit'],
      [null, false, null],
    ];
    for (const [reason, held, expected] of cases) {
      const { rows } = await t.pool.query<{ r: string | null }>(
        `select jobdeck.wait_reason(case when $2 then now() end, $1) as r`,
        [reason, held],
      );
      expect([reason, rows[0]!.r]).toEqual([reason, expected]);
    }
  });

  describe('bad input', () => {
    async function jobCount(): Promise<number> {
      const { rows } = await t.pool.query<{ n: number }>(
        'select count(*)::int as n from jobdeck.jobs',
      );
      return rows[0]!.n;
    }

    it('refuses a job its rate limit key cannot be computed for, naming the field, and writes nothing', async () => {
      const before = await jobCount();
      const error = await jobdeck
        .enqueueJob('rated_by_account', {})
        .catch((e: unknown) => e as InvalidPayloadError);
      expect(error).toBeInstanceOf(InvalidPayloadError);
      expect((error as Error).message).toMatch(
        /task type "rated_by_account" has a rate limit per payload field "account": the payload has no such field/,
      );
      expect((error as InvalidPayloadError).problems).toEqual([
        "account: must be a string or number (the rate limit's key)",
      ]);
      const many = await jobdeck
        .enqueueJobs([
          { type: 'rated_by_account', payload: { account: 'a' } },
          { type: 'rated_by_account', payload: {} },
        ])
        .catch((e: unknown) => e as Error);
      expect(many).toBeInstanceOf(InvalidPayloadError);
      expect((many as Error).message).toMatch(
        /^jobs\[1\]: .*"account": the payload has no such field/,
      );
      // The SQL API too, and a per-key concurrency limit's key the same way.
      await expect(
        t.pool.query(`select jobdeck.enqueue('keyed_span', '{"sleepMs": 1}')`),
      ).rejects.toMatchObject({ code: 'JD002' });
      expect(await jobCount()).toBe(before);
    });

    it('refuses a bad queue rate limit key, naming it, changing nothing', async () => {
      await expect(
        jobdeck.setQueueRateLimit('keyed', 5, '1s', { key: 'tenant' as never }),
      ).rejects.toThrow(InvalidArgumentError);
      await expect(
        jobdeck.setQueueRateLimit('keyed', 5, '1s', { key: 'tenant' as never }),
      ).rejects.toThrow(/the rate limit key of queue "keyed" must be 'org', 'owner' or \{ payload/);
      await expect(
        t.pool.query(`select jobdeck.set_queue_rate_limit('keyed', 5, '1 second', 'payload:a b')`),
      ).rejects.toMatchObject({
        code: 'JD004',
        message: expect.stringMatching(/^key_spec for queue "keyed"/),
      });
      const { rows } = await t.pool.query(
        `select 1 from jobdeck_private.rate_limits where scope = 'queue' and name = 'keyed'`,
      );
      expect(rows).toEqual([]);
    });

    it('refuses zero, negative and oversized limits and bad periods, changing nothing', async () => {
      for (const [limit, period, field] of [
        [0, '1s', 'limit'],
        [-3, '1s', 'limit'],
        [2.5, '1s', 'limit'],
        [5, '0s', 'period'],
        [5, 'soon', 'period'],
        [5, '40d', 'period'],
      ] as const) {
        const error = (await jobdeck
          .setQueueRateLimit('imports', limit, period)
          .catch((e: unknown) => e)) as Error;
        expect(error, `${limit} per ${period}`).toBeInstanceOf(InvalidArgumentError);
        expect(error.message).toContain(`queue "imports": ${field}`);
      }
      await expect(
        t.pool.query(`select jobdeck.set_queue_rate_limit('imports', 0, '1 second')`),
      ).rejects.toMatchObject({ code: 'JD004', message: /max_starts for queue "imports"/ });
      await expect(
        t.pool.query(`select jobdeck.set_queue_rate_limit('imports', 5, '0 seconds')`),
      ).rejects.toMatchObject({ code: 'JD004', message: /period for queue "imports"/ });
      await expect(
        t.pool.query(`select jobdeck.set_queue_rate_limit('', 5, '1 second')`),
      ).rejects.toMatchObject({ code: 'JD004', message: /queue must be a name/ });
      const { rows } = await t.pool.query(
        `select 1 from jobdeck_private.rate_limits where scope = 'queue'`,
      );
      expect(rows).toEqual([]);
    });

    it('refuses a task definition with a bad rateLimit or concurrency, naming the field', async () => {
      const { taskSettings } = await import('../../src/jobs/registry.ts');
      const defaults = { maxAttempts: 3, maxPayloadBytes: 1024, cancelGraceMs: 1000 };
      const bad: [Record<string, unknown>, RegExp][] = [
        [{ rateLimit: { limit: 0, period: '1s' } }, /rateLimit\.limit must be a whole number/],
        [{ rateLimit: { limit: 5, period: '0ms' } }, /rateLimit\.period must be from 1 ms/],
        [{ rateLimit: { limit: 5 } }, /rateLimit\.period must be a duration/],
        [{ rateLimit: { limit: 5, period: '1s', key: 'tenant' } }, /rateLimit\.key must be/],
        [{ concurrency: { limit: -1, key: 'org' } }, /concurrency\.limit must be a whole number/],
        [{ concurrency: { limit: 2, key: { payload: 'a..b' } } }, /concurrency\.key must be/],
        [{ concurrency: { limit: 2 } }, /concurrency\.key must be/],
      ];
      for (const [def, message] of bad)
        expect(() => taskSettings({ ...def, run: () => null }, defaults)).toThrow(message);
    });
  });
});
