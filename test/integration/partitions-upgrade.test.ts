import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createJobdeck } from '../../src/client.ts';
import { migrate } from '../../src/db/migrate.ts';
import { moveToHistory } from '../../src/jobs/history.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import { ROOT } from '../helpers/cli.ts';
import { createTestDatabase, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  ['echo', defineTask({ run: ({ payload }) => ({ echoed: payload }) })],
]);

describe('the upgrade to partitioned history (000023 → 000024)', () => {
  let t: TestDatabase | undefined;
  let landed: string | undefined;

  afterEach(async () => {
    expect(await stopWorkers(), 'a test left a worker running').toBe(0);
  });
  afterAll(async () => {
    await t?.drop();
    if (landed) await rm(landed, { recursive: true, force: true });
  });

  it(
    'keeps every job, event and step, and the unfinished jobs still run',
    { timeout: 60_000 },
    async () => {
      t = await createTestDatabase({ migrated: false });
      landed = await mkdtemp(path.join(os.tmpdir(), 'jobdeck-000023-'));
      for (const file of await readdir(path.join(ROOT, 'migrations'))) {
        if (/^\d{6}_.*\.sql$/.test(file) && file < '000024') {
          await copyFile(path.join(ROOT, 'migrations', file), path.join(landed, file));
        }
      }
      // Numbered migrations only: today's sql/ files expect purge_on, which 000023 lacks.
      expect((await migrate(t.pool, { dir: landed, sqlDir: null })).applied).toHaveLength(23);

      // The unpartitioned table of 000023, with history and unfinished jobs in it.
      const { rows: made } = await t.pool.query<{ id: string; status: string }>(
        `insert into jobdeck.jobs (type, status, owner_id, org_id, key, attempts, started_at, finished_at)
       select 'echo', s, 'alice', 'acme', case when s = 'queued' and n = 1 then 'the-key' end,
              case when s = 'queued' then 0 else 1 end,
              case when s = 'queued' then null else now() - interval '2 hours' end,
              case when s in ('succeeded', 'failed', 'cancelled') then now() - make_interval(hours => n) end
         from unnest(array['succeeded', 'failed', 'cancelled', 'queued']) s, generate_series(1, 3) n
       returning id, status`,
      );
      await t.pool.query(
        `insert into jobdeck.job_events (job_id, message) select unnest($1::uuid[]), 'before the upgrade'`,
        [made.map((job) => job.id)],
      );
      await t.pool.query(
        `insert into jobdeck.job_steps (job_id, name, position, result, attempt, completed_at)
       select unnest($1::uuid[]), 'first', 0, '{"kept": true}', 1, now()`,
        [made.map((job) => job.id)],
      );
      const queued = made.filter((job) => job.status === 'queued').map((job) => job.id);
      for (const id of queued) {
        await t.pool.query(
          `update jobdeck.jobs set gw_job_id = (graphile_worker.add_job('echo', json_build_object('jobdeckId', $1::uuid))).id
          where id = $1`,
          [id],
        );
      }
      const snapshot = async () =>
        (
          await t!.pool.query<{ jobs: string; events: string; steps: string }>(
            `select (select json_agg(j order by j.id)::text
                     from (select id, status, key, owner_id, org_id, finished_at, gw_job_id from jobdeck.jobs) j) as jobs,
                  (select json_agg(e order by e.id)::text
                     from (select id, job_id, kind, message from jobdeck.job_events) e) as events,
                  (select json_agg(s order by s.job_id)::text
                     from (select job_id, name, result from jobdeck.job_steps) s) as steps`,
          )
        ).rows[0]!;
      const before = await snapshot();

      const upgrade = await migrate(t.pool);
      // 000024, then whatever came after it
      expect(upgrade.applied[0]).toBe('000024_partitioned_history.sql');
      expect(upgrade.applied.slice(1).every((file) => file > '000024')).toBe(true);
      expect(await snapshot()).toEqual(before);
      const { rows: placed } = await t.pool.query<{ part: string; n: number }>(
        `select tableoid::regclass::text as part, count(*)::int as n from jobdeck.jobs group by 1`,
      );
      expect(placed).toEqual([{ part: 'jobdeck_private.jobs_live', n: made.length }]);
      const { rows: table } = await t.pool.query<{
        kind: string;
        rls: boolean;
        policies: string[];
      }>(
        `select c.relkind::text as kind, c.relrowsecurity as rls,
              array(select p.polname::text from pg_policy p where p.polrelid = c.oid order by 1) as policies
         from pg_class c where c.oid = 'jobdeck.jobs'::regclass`,
      );
      expect(table[0]).toEqual({
        kind: 'p',
        rls: true,
        policies: ['jobs_select_org', 'jobs_select_own', 'jobs_select_system'],
      });
      // The key still belongs to its unfinished job.
      await expect(
        t.pool.query(`insert into jobdeck.jobs (type, key) values ('echo', 'the-key')`),
      ).rejects.toThrow(/jobs_key_active_idx|jobs_live_key/);

      // The unfinished jobs run on today's worker, their completed steps kept.
      await registerTasks(t, tasks);
      const jobdeck = createJobdeck({ connectionString: t.url });
      try {
        const worker = await runTestWorker(t, tasks);
        for (const id of queued) await waitForStatus(jobdeck, id, 'succeeded');
        await worker.stop();
        const steps = await jobdeck.getJobSteps(queued[0]!);
        expect(steps.map((step) => step.name)).toEqual(['first']);
      } finally {
        await jobdeck.close();
      }

      // The history the upgrade left in jobs_live moves to its partitions (the worker's history
      // service has already moved the jobs finished before the upgrade; these are the ones it ran).
      await moveToHistory(t.pool, { afterSeconds: 0, succeededDays: 7, failedDays: 30 });
      const { rows: live } = await t.pool.query<{ n: number }>(
        `select count(*)::int as n from jobdeck_private.jobs_live`,
      );
      expect(live[0]!.n).toBe(0);
      const events = await t.pool.query<{ n: number }>(
        `select count(*)::int as n from jobdeck.job_events where message = 'before the upgrade'`,
      );
      expect(events.rows[0]!.n).toBe(made.length);
    },
  );
});
