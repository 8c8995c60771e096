import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { TypeStatsRefresh } from '../../src/worker/type-stats.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  ['report', defineTask({ run: () => null })],
  ['never_ran', defineTask({ run: () => null })],
]);

describe('TypeStatsRefresh', () => {
  let t: TestDatabase;

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, tasks);
  });
  afterAll(async () => {
    await t.drop();
  });

  it("sets each type's median run time from its successful jobs", async () => {
    for (const ms of [100, 200, 900]) {
      await t.pool.query(
        `insert into jobdeck.jobs (type, status, attempts, max_attempts, started_at, finished_at)
         values ('report', 'succeeded', 1, 3, now() - make_interval(secs => $1::float8 / 1000), now())`,
        [ms],
      );
    }
    await new TypeStatsRefresh({ pool: t.pool, intervalMs: 60_000 }).runOnce();
    const { rows } = await t.pool.query<{ type: string; median_ms: string | null }>(
      `select type, median_ms from jobdeck_private.task_types where type in ('report', 'never_ran') order by type`,
    );
    expect(rows.map((r) => [r.type, r.median_ms === null ? null : Number(r.median_ms)])).toEqual([
      ['never_ran', null],
      ['report', 200],
    ]);
  });
});
