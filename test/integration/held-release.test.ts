import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { HeldRelease } from '../../src/worker/held-release.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { markRunning, registerTasks } from '../helpers/worker.ts';

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  ['quick', defineTask({ run: () => null })],
]);

describe('HeldRelease', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, tasks);
    jobdeck = createJobdeck({ pool: t.pool });
    await t.pool.query(
      `insert into jobdeck_private.settings (name, value) values ('org_concurrency', to_jsonb(1))`,
    );
  });
  afterAll(async () => {
    await jobdeck.close();
    await t.drop();
  });

  it('puts a held job back in the queue once its organisation has room, and not before', async () => {
    const running = await jobdeck.enqueueJob('quick', {}, { orgId: 'acme' });
    await markRunning(t, running, 'w-held');
    // As start_jobs holds a job over the cap: no Graphile job, held_at set.
    const held = await jobdeck.enqueueJob('quick', {}, { orgId: 'acme' });
    await t.pool.query('select graphile_worker.complete_jobs(array[$1::bigint])', [held.gw_job_id]);
    await t.pool.query('update jobdeck.jobs set held_at = now(), gw_job_id = null where id = $1', [
      held.id,
    ]);
    const release = new HeldRelease({ pool: t.pool, intervalMs: 1000 });

    await release.runOnce();
    expect(await jobdeck.getJob(held.id)).toMatchObject({ gw_job_id: null });
    expect((await jobdeck.getJob(held.id)).held_at).not.toBeNull();

    await t.pool.query(
      `update jobdeck.jobs set status = 'succeeded', finished_at = now() where id = $1`,
      [running.id],
    );
    await release.runOnce();
    const released = await jobdeck.getJob(held.id);
    expect(released.held_at).toBeNull();
    expect(released.gw_job_id).not.toBeNull();
  });
});
