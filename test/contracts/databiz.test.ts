import { beforeAll, describe, expect, it } from 'vitest';
import { defineTask } from '../../src/jobs/task.ts';
import { syncTaskTypes, type TaskRegistry } from '../../src/jobs/registry.ts';
import { createDb } from '../../src/db/pool.ts';
import { tokenFor } from '../helpers/api.ts';
import { waitForStatus } from '../helpers/db.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { registerTasks, runTestWorker } from '../helpers/worker.ts';

/**
 * Seeds 000/001 (DataBiz `useBackgroundJobs`, the header widget), as a client written from the
 * seed alone: `GET /api/v2/jobs/active` with `Authorization: Bearer <token>` answers 200 and a
 * bare array of `{id, type, status, progress}` (`filename` as the seed's "nice to have"), where
 * `type` is one of import | export | validation | processing and `status` one of
 * running | completed | failed.
 */

/** The frontend's `BackgroundJob` interface (seed 001). */
interface BackgroundJob {
  id: string;
  type: 'import' | 'export' | 'validation' | 'processing';
  status: 'running' | 'completed' | 'failed';
  progress?: number;
  filename?: string;
}
const TYPES = ['import', 'export', 'validation', 'processing'];
const STATUSES = ['running', 'completed', 'failed'];
const LATER = () => new Date(Date.now() + 3_600_000);

const bed = useApiTestbed();

/** The hook's poll, exactly as the seed writes it. */
async function poll(token: string | null): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${bed.server.url}/api/v2/jobs/active`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: response.status, body: await response.json() };
}

/** What the frontend's type checks would accept, field by field. */
function expectBackgroundJob(item: unknown): asserts item is BackgroundJob {
  const job = item as Record<string, unknown>;
  expect(
    Object.keys(job)
      .filter((k) => k !== 'filename')
      .sort(),
  ).toEqual(['id', 'progress', 'status', 'type'].sort());
  expect(job['id']).toMatch(/^[0-9a-f-]{36}$/);
  expect(TYPES).toContain(job['type']);
  expect(STATUSES).toContain(job['status']);
  expect(job['progress']).toBeGreaterThanOrEqual(0);
  expect(job['progress']).toBeLessThanOrEqual(100);
}

beforeAll(async () => {
  // An application's task that declares no category: the documented default applies.
  const own: TaskRegistry = new Map([['reindex', defineTask({ run: () => null })]]);
  await registerTasks(bed.t, own);
});

describe('GET /api/v2/jobs/active (seeds 000/001)', () => {
  it('returns 200 and an empty array when there are no jobs (not 404)', async () => {
    expect(await poll(await tokenFor('nobody', 'databiz'))).toEqual({ status: 200, body: [] });
  });

  it('answers the seed’s example: an import running, an export completed, an import failed', async () => {
    const token = await tokenFor('dana', 'databiz');
    const owner = { ownerId: 'dana', orgId: 'databiz' };
    const { jobdeck, t, tasks } = bed;
    const failed = await jobdeck.enqueueJob(
      'import_file',
      { filename: 'old.csv' },
      {
        ...owner,
        runAt: LATER(),
      },
    );
    await jobdeck.cancelJob(failed.id);
    const completed = await jobdeck.enqueueJob(
      'export_report',
      { reportType: 'quotes', format: 'csv' },
      owner,
    );
    const worker = await runTestWorker(t, tasks);
    await waitForStatus(jobdeck, completed.id, 'succeeded').finally(() => worker.stop());
    const running = await jobdeck.enqueueJob(
      'import_file',
      { filename: 'people.csv' },
      {
        ...owner,
        runAt: LATER(),
      },
    );

    const res = await poll(token);
    expect(res.status).toBe(200);
    expect(Array.isArray(res.body)).toBe(true);
    const jobs = res.body as unknown[];
    jobs.forEach(expectBackgroundJob);
    expect(jobs).toEqual([
      { id: running.id, type: 'import', status: 'running', progress: 0, filename: 'people.csv' },
      { id: completed.id, type: 'export', status: 'completed', progress: 100 },
      { id: failed.id, type: 'import', status: 'failed', progress: 0, filename: 'old.csv' },
    ]);
    // The seed's integration test: `jobs[0]["type"] == "import"`.
    expect((jobs[0] as BackgroundJob).type).toBe('import');
  });

  it('answers `processing` for a task that declares no category; the job type stays elsewhere', async () => {
    const token = await tokenFor('rex', 'databiz');
    const job = await bed.jobdeck.enqueueJob(
      'reindex',
      {},
      {
        ownerId: 'rex',
        orgId: 'databiz',
        runAt: LATER(),
      },
    );
    const res = await poll(token);
    expect(res.body).toEqual([{ id: job.id, type: 'processing', status: 'running', progress: 0 }]);
    const status = await fetch(`${bed.server.url}/v1/jobs/${job.id}/status`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(((await status.json()) as { job: { jobType: string } }).job.jobType).toBe('reindex');
  });

  it('shows only the caller’s own jobs', async () => {
    await bed.jobdeck.enqueueJob(
      'import_file',
      { filename: 'theirs.csv' },
      {
        ownerId: 'someone-else',
        orgId: 'databiz',
        runAt: LATER(),
      },
    );
    expect((await poll(await tokenFor('nobody', 'databiz'))).body).toEqual([]);
  });

  it('needs the bearer token: 401 with {error, message}, not 404', async () => {
    expect(await poll(null)).toEqual({
      status: 401,
      body: { error: 'unauthorized', message: expect.stringMatching(/Bearer/) },
    });
  });
});

describe('defineTask({ category })', () => {
  it('refuses a category outside the widget’s four, naming them', async () => {
    const bad = new Map([
      ['sync_all', defineTask({ category: 'sync' as 'import', run: () => null })],
    ]) as TaskRegistry;
    const db = createDb(bed.t.pool);
    await expect(syncTaskTypes(db, bad, { maxAttempts: 3, maxPayloadBytes: 1024 })).rejects.toThrow(
      'task "sync_all": category must be one of import, export, validation, processing, got "sync"',
    );
  });
});
