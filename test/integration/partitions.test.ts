import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import { ensureHistoryPartitions, moveToHistory } from '../../src/jobs/history.ts';
import { pruneJobs } from '../../src/jobs/prune.ts';
import type { AnyTaskDefinition } from '../../src/jobs/task.ts';
import { defineTask } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { gql, startTestServer, stopServers, tokenFor } from '../helpers/api.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  ['echo', defineTask({ run: ({ payload }) => ({ echoed: payload }) })],
]);

const RETENTION = { succeededDays: 7, failedDays: 30 };

describe('partitioned history (migration 000024)', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;
  let server: JobdeckServer;

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, tasks);
    jobdeck = createJobdeck({ connectionString: t.url });
    server = await startTestServer(t);
  });
  afterEach(async () => {
    expect(await stopWorkers(), 'a test left a worker running').toBe(0);
  });
  afterAll(async () => {
    await stopServers();
    await jobdeck.close();
    await t.drop();
  });

  /** A finished job of alice's at acme, finished `minutesAgo` ago. */
  const insertFinished = async (status: string, minutesAgo: number, owner = 'alice') =>
    (
      await t.pool.query<{ id: string }>(
        `insert into jobdeck.jobs (type, status, owner_id, org_id, attempts, started_at, finished_at, errors)
         values ('echo', $1, $2, 'acme', 1, now() - make_interval(mins => $3 + 1), now() - make_interval(mins => $3),
                 case when $1 = 'failed' then '[{"message": "boom", "attempt": 1}]'::jsonb else '[]' end)
         returning id`,
        [status, owner, minutesAgo],
      )
    ).rows[0]!.id;

  const partitionOf = async (id: string) =>
    (
      await t.pool.query<{ part: string; purge_on: string }>(
        `select tableoid::regclass::text as part, purge_on::text from jobdeck.jobs where id = $1`,
        [id],
      )
    ).rows[0];

  const utcDayPlus = (days: number) =>
    new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

  it('moves a finished job to its history partition once it has settled, and it stays readable by id', async () => {
    const fresh = await insertFinished('succeeded', 1);
    const settled = await insertFinished('succeeded', 20);
    const failed = await insertFinished('failed', 20);
    await t.pool.query(
      `insert into jobdeck.job_events (job_id, message) select unnest($1::uuid[]), 'done'`,
      [[fresh, settled, failed]],
    );

    const eventsOf = async (id: string) =>
      (
        await t.pool.query<{ message: string }>(
          `select message from jobdeck.job_events where job_id = $1 order by id`,
          [id],
        )
      ).rows.map((row) => row.message);
    const eventsBefore = await eventsOf(settled);
    const { moved } = await moveToHistory(t.pool, { afterSeconds: 600, ...RETENTION });
    expect(moved).toBeGreaterThanOrEqual(2);
    expect(await partitionOf(fresh)).toEqual({
      part: 'jobdeck_private.jobs_live',
      purge_on: 'infinity',
    });
    // purge_on: the day after the retention ends (UTC); the partition: the Monday-aligned week.
    const settledAt = await partitionOf(settled);
    expect(settledAt!.part).toMatch(/^jobdeck_private\.jobs_p\d{8}$/);
    expect(settledAt!.purge_on).toBe(
      (
        await t.pool.query<{ d: string }>(
          `select (((finished_at at time zone 'UTC') + interval '7 days')::date + 1)::text as d from jobdeck.jobs where id = $1`,
          [settled],
        )
      ).rows[0]!.d,
    );
    expect((await partitionOf(failed))!.purge_on > settledAt!.purge_on).toBe(true);
    // Moving announced nothing and recorded nothing: the job's events are its own.
    expect(await eventsOf(settled)).toEqual(eventsBefore);

    // TypeScript, GraphQL and REST read it by id as before.
    expect((await jobdeck.getJob(settled)).status).toBe('succeeded');
    const alice = await tokenFor('alice', 'acme');
    const res = await gql<{
      job: { id: string; status: string; events: { nodes: { message: string }[] } };
    }>(server, `query($id: UUID!) { job(id: $id) { id status events { nodes { message } } } }`, {
      variables: { id: settled },
      token: alice,
    });
    expect(res.errors).toBeUndefined();
    expect(res.data?.job).toEqual({
      id: settled,
      status: 'succeeded',
      events: { nodes: eventsBefore.map((message) => ({ message })) },
    });
    const rest = await fetch(`${server.url}/v1/jobs/${settled}/status`, {
      headers: { authorization: `Bearer ${alice}` },
    });
    expect(rest.status).toBe(200);
    expect(((await rest.json()) as { job: { id: string } }).job.id).toBe(settled);

    // Row-level security holds on history rows: bob, at the same organisation, sees nothing.
    const bob = await tokenFor('bob', 'acme');
    const asBob = await gql<{ job: unknown }>(server, `query($id: UUID!) { job(id: $id) { id } }`, {
      variables: { id: settled },
      token: bob,
    });
    expect(asBob.data?.job).toBeNull();
    const bobRest = await fetch(`${server.url}/v1/jobs/${settled}/status`, {
      headers: { authorization: `Bearer ${bob}` },
    });
    expect(bobRest.status).toBe(404);
    const list = await gql<{ jobs: { nodes: { id: string }[] } }>(
      server,
      `query { jobs(first: 100) { nodes { id } } }`,
      { token: bob },
    );
    expect(list.data?.jobs.nodes.map((job) => job.id)).not.toContain(settled);
  });

  it('moves a retried job back to jobs_live, where it runs', async () => {
    const failed = await insertFinished('failed', 30);
    await moveToHistory(t.pool, { afterSeconds: 60, ...RETENTION });
    expect((await partitionOf(failed))!.part).toMatch(/jobs_p\d{8}$/);

    const retried = await jobdeck.retryJob(failed);
    expect(retried.status).toBe('queued');
    expect(await partitionOf(failed)).toEqual({
      part: 'jobdeck_private.jobs_live',
      purge_on: 'infinity',
    });
    const worker = await runTestWorker(t, tasks);
    await waitForStatus(jobdeck, failed, 'succeeded');
    await worker.stop();
  });

  it('answers a retry that meets the move to history with "try again", and the library sends it again itself', async () => {
    await ensureHistoryPartitions(t.pool, RETENTION);
    const alice = await tokenFor('alice', 'acme');
    /**
     * Sends `request` while the history service's move of every settled job is held open, once
     * the request waits for a moved row's lock, lets the move commit: the waiting statement then
     * finds its row moved to another partition (SQLSTATE 40001) and is rolled back.
     */
    const duringMove = async <T>(request: () => Promise<T>): Promise<T> => {
      const mover = await t.pool.connect();
      try {
        await mover.query('begin');
        await mover.query(
          `select jobdeck_private.move_to_history(make_interval(secs => 60), 7, 30, 2000)`,
        );
        const pending = request();
        await waitFor(
          async () =>
            (
              await t.pool.query<{ n: number }>(
                `select count(*)::int as n from pg_stat_activity
                  where datname = current_database() and wait_event_type = 'Lock'`,
              )
            ).rows[0]!.n > 0,
        );
        await mover.query('commit');
        return await pending;
      } finally {
        mover.release();
      }
    };

    // GraphQL: a clear error that says to try again, and nothing written; the same request passes.
    const viaGraphql = await insertFinished('failed', 30);
    const retry = (id: string) =>
      gql<{ retryJob: { job: { status: string } } }>(
        server,
        `mutation($id: UUID!) { retryJob(input: { id: $id }) { job { status } } }`,
        { token: alice, variables: { id } },
      );
    const refused = await duringMove(() => retry(viaGraphql));
    expect(refused.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/changed while this ran.*nothing was changed, try again/),
      extensions: { code: 'CONCURRENT_CHANGE', sqlstate: '40001' },
    });
    expect(await partitionOf(viaGraphql)).toMatchObject({
      part: expect.stringMatching(/jobs_p\d{8}$/),
    });
    expect((await jobdeck.getJob(viaGraphql)).status).toBe('failed');
    expect((await retry(viaGraphql)).data?.retryJob.job.status).toBe('queued');

    // REST: 409 with the same advice.
    const viaRest = await insertFinished('failed', 30);
    const answer = await duringMove(() =>
      fetch(`${server.url}/v1/jobs/${viaRest}/retry`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice}` },
      }),
    );
    expect(answer.status).toBe(409);
    expect(await answer.json()).toMatchObject({
      error: 'concurrent_change',
      message: expect.stringMatching(/nothing was changed, try again/),
    });

    // TypeScript on a pool: each statement is its own transaction, so the library sends it again.
    const viaLibrary = await insertFinished('failed', 30);
    const retried = await duringMove(() => jobdeck.retryJob(viaLibrary));
    expect(retried.status).toBe('queued');
    expect(await partitionOf(viaLibrary)).toEqual({
      part: 'jobdeck_private.jobs_live',
      purge_on: 'infinity',
    });
    await t.pool.query(`delete from jobdeck.jobs where id = any($1::uuid[])`, [
      [viaGraphql, viaRest, viaLibrary],
    ]);
  });

  it('refuses an unfinished job outside jobs_live', async () => {
    const done = await insertFinished('succeeded', 30);
    await moveToHistory(t.pool, { afterSeconds: 60, ...RETENTION });
    await expect(
      t.pool.query(`update jobdeck.jobs set status = 'queued', finished_at = null where id = $1`, [
        done,
      ]),
    ).rejects.toThrow(/unfinished_is_live/);
  });

  it("moves finished jobs in the worker's history service, and creates the partitions ahead", async () => {
    const worker = await runTestWorker(t, tasks, {
      config: {
        historyAfterSeconds: 0,
        heartbeatIntervalMs: 100,
        rescueAfterMs: 1000,
        retentionSucceededDays: 3,
        retentionFailedDays: 60,
      },
    });
    const job = await jobdeck.enqueueJob('echo', { hello: 1 });
    await waitForStatus(jobdeck, job.id, 'succeeded');
    const moved = await waitFor(
      async () => {
        const at = await partitionOf(job.id);
        return at && at.part !== 'jobdeck_private.jobs_live' ? at : null;
      },
      { what: 'the job moved to its history partition' },
    );
    await worker.stop();
    expect(moved.purge_on).toBe(utcDayPlus(4));
    const { rows } = await t.pool.query<{ name: string }>(
      `select c.relname::text as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'jobdeck.jobs'::regclass`,
    );
    const names = rows.map((row) => row.name);
    const weekOf = async (day: string) =>
      (
        await t.pool.query<{ name: string }>(
          `select jobdeck_private.history_partition($1::date) as name`,
          [day],
        )
      ).rows[0]!.name;
    for (const days of [3, 3 + 14, 60, 60 + 14])
      expect(names).toContain(await weekOf(utcDayPlus(days)));
    // Created once: a second call finds them all.
    expect(await ensureHistoryPartitions(t.pool, { succeededDays: 3, failedDays: 60 })).toEqual([]);
  });

  it('drops a history partition whose week is past, with its events, steps and signals, instead of deleting rows', async () => {
    const gone = await insertFinished('succeeded', 60 * 24 * 30);
    const kept = await insertFinished('succeeded', 30);
    await moveToHistory(t.pool, { afterSeconds: 60, ...RETENTION });
    // As the service would have moved `gone` weeks ago: into a week that is now past.
    const past = utcDayPlus(-20);
    await t.pool.query(`select jobdeck_private.ensure_history_partitions($1, $1)`, [past]);
    await t.pool.query(`update jobdeck.jobs set purge_on = $2 where id = $1`, [gone, past]);
    const pastPartition = (await partitionOf(gone))!.part.replace('jobdeck_private.', '');
    for (const id of [gone, kept]) {
      await t.pool.query(`insert into jobdeck.job_events (job_id, message) values ($1, 'log')`, [
        id,
      ]);
      await t.pool.query(
        `insert into jobdeck.job_steps (job_id, name, position, attempt, completed_at) values ($1, 'a', 0, 1, now())`,
        [id],
      );
      await t.pool.query(
        `insert into jobdeck_private.job_signals (job_id, event) values ($1, 'go')`,
        [id],
      );
    }

    const rowsOfKept = () =>
      t.pool
        .query<{ n: string }>(
          `select (select count(*) from jobdeck.job_events where job_id = $1)
                + (select count(*) from jobdeck.job_steps where job_id = $1)
                + (select count(*) from jobdeck_private.job_signals where job_id = $1) as n`,
          [kept],
        )
        .then((r) => Number(r.rows[0]!.n));
    const keptBefore = await rowsOfKept();
    const result = await pruneJobs(t.pool, RETENTION);
    expect(result.droppedPartitions).toContain(pastPartition);
    expect(result.deleted).toBeGreaterThanOrEqual(1);
    const left = await t.pool.query<{ id: string }>(
      `select id from jobdeck.jobs where id = any($1)`,
      [[gone, kept]],
    );
    expect(left.rows.map((row) => row.id)).toEqual([kept]);
    const exists = await t.pool.query(`select to_regclass($1) as r`, [
      `jobdeck_private.${pastPartition}`,
    ]);
    expect(exists.rows[0].r).toBeNull();
    // No orphans: nothing points at a job that is gone; the kept job keeps its rows.
    const orphans = await t.pool.query<{ events: number; steps: number; signals: number }>(
      `select (select count(*)::int from jobdeck.job_events e
                where not exists (select 1 from jobdeck.jobs j where j.id = e.job_id)) as events,
              (select count(*)::int from jobdeck.job_steps s
                where not exists (select 1 from jobdeck.jobs j where j.id = s.job_id)) as steps,
              (select count(*)::int from jobdeck_private.job_signals g
                where not exists (select 1 from jobdeck.jobs j where j.id = g.job_id)) as signals`,
    );
    expect(orphans.rows[0]).toEqual({ events: 0, steps: 0, signals: 0 });
    expect(await rowsOfKept()).toBe(keptBefore);
  });

  it('deletes the steps and signals of a deleted job with it (no foreign key cascades any more)', async () => {
    const id = await insertFinished('succeeded', 5);
    await t.pool.query(
      `insert into jobdeck.job_steps (job_id, name, position, attempt) values ($1, 'a', 0, 1)`,
      [id],
    );
    await t.pool.query(
      `insert into jobdeck_private.job_signals (job_id, event) values ($1, 'go')`,
      [id],
    );
    await t.pool.query(`delete from jobdeck.jobs where id = $1`, [id]);
    const { rows } = await t.pool.query<{ n: number }>(
      `select (select count(*) from jobdeck.job_steps where job_id = $1)
            + (select count(*) from jobdeck_private.job_signals where job_id = $1) as n`,
      [id],
    );
    expect(Number(rows[0]!.n)).toBe(0);
  });

  it("plans the worker's lookups and the active-jobs read against jobs_live only", async () => {
    await t.pool.query(`select jobdeck_private.ensure_history_partitions($1, $1)`, [
      utcDayPlus(100),
    ]);
    const plan = async (query: string) =>
      (await t.pool.query<{ 'QUERY PLAN': string }>(`explain ${query}`)).rows
        .map((row) => row['QUERY PLAN'])
        .join('\n');
    const active = await plan('select * from jobdeck.active_jobs() limit 10');
    expect(active).toMatch(/jobs_live/);
    expect(active).not.toMatch(/jobs_p\d{8}|jobs_default/);
    const byId = await plan(
      `select * from jobdeck.jobs j where j.id = gen_random_uuid() and j.purge_on = 'infinity'`,
    );
    expect(byId).not.toMatch(/jobs_p\d{8}|jobs_default/);
  });
});
