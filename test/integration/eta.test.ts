import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { defineTask, type AnyTaskDefinition } from '../../src/jobs/task.ts';
import { sleep } from '../../src/util/sleep.ts';
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';

let hold = true;

const tasks: TaskRegistry = new Map<string, AnyTaskDefinition>([
  [
    'warming',
    defineTask({
      async run({ payload, progress, signal }) {
        await sleep(100, signal);
        if (!(payload as { hold?: boolean }).hold) return { ok: true };
        // a step, but no percentage yet
        await progress(0, 'warming up');
        while (hold) await sleep(20, signal);
        return { ok: true };
      },
    }),
  ],
]);

describe('the ETA', () => {
  let t: TestDatabase;
  let jobdeck: Jobdeck;

  beforeAll(async () => {
    t = await createTestDatabase();
    await registerTasks(t, tasks);
    jobdeck = createJobdeck({ pool: t.pool });
  });
  afterEach(async () => {
    expect(await stopWorkers(), 'a test left a worker running').toBe(0);
  });
  afterAll(async () => {
    await jobdeck.close();
    await t.drop();
  });

  it('extrapolates the progress rate, and falls back to the type’s median before any progress', async () => {
    const { rows } = await t.pool.query<Record<string, boolean>>(
      `select jobdeck_private.estimate_eta(now() - interval '10 s', 50, 60000) = now() + interval '10 s' as halfway,
              jobdeck_private.estimate_eta(now() - interval '30 s', 75, null) = now() + interval '10 s' as no_median_needed,
              jobdeck_private.estimate_eta(now() - interval '10 s', 0, 60000) = now() + interval '50 s' as median,
              jobdeck_private.estimate_eta(now() - interval '10 s', 100, 60000) = now() + interval '50 s' as done,
              jobdeck_private.estimate_eta(now() - interval '10 s', 0, null) is null as unknown`,
    );
    expect(rows[0]).toEqual({
      halfway: true,
      no_median_needed: true,
      median: true,
      done: true,
      unknown: true,
    });
  });

  it('keeps the median estimate when a running job reports a step without a percentage', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const first = await jobdeck.enqueueJob('warming', {});
      await waitForStatus(jobdeck, first.id, 'succeeded');
      await t.pool.query('select jobdeck_private.refresh_type_stats()');
      const { rows } = await t.pool.query<{ median_ms: string }>(
        `select median_ms from jobdeck_private.task_types where type = 'warming'`,
      );
      const median = Number(rows[0]!.median_ms);
      expect(median).toBeGreaterThan(0);

      const second = await jobdeck.enqueueJob('warming', { hold: true });
      // the step arrives with the worker's progress write, after the attempt was marked running
      const warming = await waitFor(async () => {
        const job = await jobdeck.getJob(second.id);
        return job.current_step === 'warming up' && job;
      });
      expect(warming.eta_at?.getTime()).toBe(warming.started_at!.getTime() + median);
      hold = false;
      const done = await waitForStatus(jobdeck, second.id, 'succeeded');
      expect(done.eta_at).toBeNull();
    } finally {
      hold = false;
      await worker.stop();
    }
  });
});
