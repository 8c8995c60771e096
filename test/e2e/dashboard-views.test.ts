import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Jobdeck } from '../../src/client.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { startTestServer, tokenFor } from '../helpers/api.ts';
import { haveChromium, useBrowser } from '../helpers/browser.ts';
import { waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { runTestWorker } from '../helpers/worker.ts';

let t: TestDatabase;
let jobdeck: Jobdeck;
let tasks: TaskRegistry;
/** A server whose organisation `acme` operates the deployment (queues, workers, schedules). */
let server: JobdeckServer;

const bed = useApiTestbed();
// after the testbed: its contexts close before the testbed checks that no subscription is left
const chrome = useBrowser();
const { contexts, consoleErrors } = chrome;

beforeAll(async () => {
  ({ t, jobdeck, tasks } = bed);
  const crontabFile = path.join(os.tmpdir(), `jobdeck-views-crontab-${process.pid}`);
  await writeFile(crontabFile, '15 3 * * * prune_jobs ?fill=1d\n');
  server = await startTestServer(t, { operatorOrgs: ['acme'], crontabFile });
});

/** A page signed in through the development sign-in, `width` pixels wide. */
const signIn = (user: string, role: 'user' | 'admin', width = 1200) =>
  chrome.signIn(`${server.url}/`, user, role, width);

const later = () => new Date(Date.now() + 3_600_000);
const path_ = (page: Page) => {
  const url = new URL(page.url());
  return url.pathname + url.search;
};

/** Finished jobs of each outcome, a batch and a scheduled one, as alice. */
async function seed(): Promise<{ failed: string; succeeded: string; batch: string }> {
  const worker = await runTestWorker(t, tasks);
  try {
    const ok = await jobdeck.enqueueJob(
      'import_file',
      { filename: 'people.csv', rows: 10, stepDelayMs: 0 },
      { ownerId: 'alice', orgId: 'acme', key: 'people-import' },
    );
    const bad = await jobdeck.enqueueJob(
      'export_report',
      { reportType: 'invalid_report', format: 'csv', stepDelayMs: 0 },
      { ownerId: 'alice', orgId: 'acme' },
    );
    const batch = await jobdeck.enqueueBatch(
      [1, 2].map((n) => ({
        type: 'import_file',
        payload: { filename: `part-${n}.csv`, rows: 5, stepDelayMs: 0 },
      })),
      { ownerId: 'alice', orgId: 'acme' },
    );
    await waitForStatus(jobdeck, ok.id, 'succeeded');
    await waitForStatus(jobdeck, bad.id, 'failed');
    return { failed: bad.id, succeeded: ok.id, batch: batch.id };
  } finally {
    await worker.stop();
  }
}

describe.skipIf(!haveChromium)('the dashboard’s views in Chromium', () => {
  let seeded: Awaited<ReturnType<typeof seed>>;
  beforeAll(async () => {
    seeded = await seed();
  });

  it('shows every view at its own URL, again after a reload, within 390 px', async () => {
    const waiting = await jobdeck.enqueueJob(
      'export_report',
      { reportType: 'quotes', format: 'csv' },
      { ownerId: 'alice', orgId: 'acme', queue: 'reports', runAt: later() },
    );
    const views: [string, string | RegExp][] = [
      ['/ui/', 'Active jobs'],
      ['/ui/history?status=failed', 'History'],
      [`/ui/jobs/${seeded.failed}`, `Job ${seeded.failed}`],
      ['/ui/queues', 'Queues'],
      ['/ui/queues/reports', 'Queue reports'],
      ['/ui/workers', 'Workers'],
      ['/ui/batches', 'Batches'],
      [`/ui/batches/${seeded.batch}`, `Batch ${seeded.batch}`],
      ['/ui/schedules', 'Cron schedules'],
      ['/ui/stats', /^Stats/],
      ['/ui/enqueue', 'Enqueue a job'],
      ['/ui/search?q=people-import', 'Search: people-import'],
    ];
    for (const width of [1200, 390]) {
      const page = await signIn('alice', 'admin', width);
      for (const [url, heading] of views) {
        await page.goto(`${server.url}${url}`);
        await page.getByRole('heading', { name: heading }).first().waitFor();
        await page.reload();
        await page.getByRole('heading', { name: heading }).first().waitFor();
        expect(path_(page), url).toBe(url);
        await page.waitForTimeout(100); // charts and tables settle
        // a string, so the page's `document` needs no DOM types here
        const overflow = await page.evaluate<number>(
          'document.documentElement.scrollWidth - document.documentElement.clientWidth',
        );
        expect(overflow, `${url} at ${width} px`).toBeLessThanOrEqual(0);
      }
      // what the views show: the waiting job in its queue, the schedule's next run, the chart
      await page.goto(`${server.url}/ui/`);
      await page
        .getByRole('region', { name: 'queue reports' })
        .locator(`[data-job-id="${waiting.id}"]`)
        .waitFor();
      await page.goto(`${server.url}/ui/schedules`);
      expect(await page.locator('[data-next-run]').first().textContent()).toMatch(/in \d+/);
      await page.goto(`${server.url}/ui/stats`);
      await page.locator('.uplot .u-legend').first().waitFor();
      await page.context().close();
    }
    await jobdeck.cancelJob(waiting.id);
  });

  it('keeps filters in the URL through back and forward', async () => {
    const page = await signIn('alice', 'user');
    // by keyboard: the views are links
    await page.getByRole('link', { name: 'History', exact: true }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => path_(page)).toBe('/ui/history');
    await page.locator('select[name=status]').selectOption('failed');
    await expect.poll(() => path_(page)).toBe('/ui/history?status=failed');
    // the unfiltered list showed that row too: wait for the filtered one
    await expect.poll(() => page.locator('tbody tr').count()).toBe(1);
    await page.locator(`tr[data-job-id="${seeded.failed}"]`).waitFor();
    // a failed row shows the start of its error and its duration
    const row = page.locator(`tr[data-job-id="${seeded.failed}"]`);
    expect(await row.locator('[data-error-snippet]').textContent()).toMatch(/invalid_report/);
    expect(await row.locator('[data-duration]').textContent()).not.toBe('—');
    await row.getByRole('link').click();
    await page.getByRole('heading', { name: `Job ${seeded.failed}` }).waitFor();
    await page.goBack();
    await expect.poll(() => path_(page)).toBe('/ui/history?status=failed');
    expect(await page.locator('select[name=status]').inputValue()).toBe('failed');
    await page.locator(`tr[data-job-id="${seeded.failed}"]`).waitFor();
    await page.goForward();
    await page.getByRole('heading', { name: `Job ${seeded.failed}` }).waitFor();
  });

  it('shows a job honestly: numbered attempts, a red bar when failed, no raw null', async () => {
    const page = await signIn('alice', 'user');
    await page.goto(`${server.url}/ui/jobs/${seeded.failed}`);
    const detail = page.locator(`[data-job-id="${seeded.failed}"]`);
    await detail.waitFor();
    expect(await detail.locator('progress').getAttribute('class')).toBe('bar failed');
    expect(await detail.locator('[data-result]').textContent()).toMatch(/No result\./);
    expect(await detail.locator('[data-result]').textContent()).not.toMatch(/null/);
    expect(await page.locator('[data-attempts] tbody tr td:first-child').allTextContents()).toEqual(
      ['1'],
    );
    // the log filters by level, and the filter is in the URL
    const all = Number(await page.locator('ol.log').getAttribute('data-log-lines'));
    await page.locator('select[name=level]').selectOption('error');
    await expect.poll(() => path_(page)).toBe(`/ui/jobs/${seeded.failed}?level=error`);
    const errors = Number(await page.locator('ol.log').getAttribute('data-log-lines'));
    expect(errors).toBeGreaterThan(0);
    expect(errors).toBeLessThan(all);
  });

  it('shows "estimating…" until a running job can be estimated', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const page = await signIn('alice', 'user');
      const job = await jobdeck.enqueueJob(
        'export_report',
        { reportType: 'quotes', format: 'csv', stepDelayMs: 3000 },
        { ownerId: 'alice', orgId: 'acme' },
      );
      const article = page.locator(`article.job[data-job-id="${job.id}"][data-status=running]`);
      await article.waitFor({ timeout: 15_000 });
      expect(await article.locator('[data-eta]').textContent()).toBe('ETA estimating…');
      await jobdeck.cancelJob(job.id);
      await waitForStatus(jobdeck, job.id, 'cancelled', { timeoutMs: 20_000 });
    } finally {
      await worker.stop();
    }
  });

  it('finds a job by its id and by its key', async () => {
    const page = await signIn('alice', 'user');
    const search = page.getByRole('searchbox', { name: 'Find a job by id or key' });
    await search.fill(seeded.failed);
    await search.press('Enter');
    await page.getByRole('heading', { name: `Job ${seeded.failed}` }).waitFor();
    await search.fill('people-import');
    await search.press('Enter');
    await page.getByRole('heading', { name: `Job ${seeded.succeeded}` }).waitFor();
    expect(path_(page)).toBe(`/ui/jobs/${seeded.succeeded}`);
    await search.fill('no-such-key');
    await search.press('Enter');
    await page.getByText('No job has the id or key “no-such-key”').waitFor();
  });

  it('retries and cancels a filtered selection in bulk, after asking', async () => {
    const worker = await runTestWorker(t, tasks);
    const broken = await Promise.all(
      [1, 2, 3].map(() =>
        jobdeck.enqueueJob(
          'export_report',
          { reportType: 'invalid_report', format: 'csv', stepDelayMs: 0 },
          { ownerId: 'bulky', orgId: 'acme' },
        ),
      ),
    );
    for (const job of broken) await waitForStatus(jobdeck, job.id, 'failed');
    await worker.stop();
    const page = await signIn('bulky', 'user');
    await page.goto(`${server.url}/ui/history?status=failed`);
    await expect.poll(() => page.locator('tbody tr').count()).toBe(3);
    await page.getByRole('button', { name: /^Select all 3 matching/ }).click();
    await page.getByText('3 selected').waitFor();
    await page.getByRole('button', { name: 'Retry selected' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: 'Retry 3 jobs?' }).waitFor();
    await dialog.getByRole('button', { name: 'Retry 3' }).click();
    await page.locator('[data-toast=ok]').filter({ hasText: 'Retried 3 jobs' }).waitFor();
    for (const job of broken) expect((await jobdeck.getJob(job.id)).status).toBe('queued');

    // the retried jobs wait (no worker): cancel them, once the confirmation is accepted
    await page.goto(`${server.url}/ui/history?status=queued`);
    await expect.poll(() => page.locator('tbody tr').count()).toBe(3);
    await page.getByRole('checkbox', { name: 'Select every job on this page' }).check();
    await page.getByRole('button', { name: 'Cancel selected' }).click();
    await dialog.getByRole('button', { name: 'Keep' }).click();
    await page.getByRole('button', { name: 'Cancel selected' }).click();
    await dialog.waitFor();
    await page.keyboard.press('Escape'); // keeps them too
    await dialog.waitFor({ state: 'detached' });
    expect((await jobdeck.getJob(broken[0]!.id)).status).toBe('queued');
    await page.getByRole('button', { name: 'Cancel selected' }).click();
    await dialog.getByRole('button', { name: 'Cancel 3' }).click();
    await page.locator('[data-toast=ok]').filter({ hasText: 'Cancelled 3 jobs' }).waitFor();
    for (const job of broken) await waitForStatus(jobdeck, job.id, 'cancelled');
    await expect.poll(() => page.locator('tbody tr').count()).toBe(0);
  });

  it('deletes a finished job after asking, and says so', async () => {
    const job = await jobdeck.enqueueJob(
      'export_report',
      { reportType: 'quotes', format: 'csv' },
      { ownerId: 'dana', orgId: 'acme', runAt: later() },
    );
    await jobdeck.cancelJob(job.id);
    const page = await signIn('dana', 'user');
    await page.goto(`${server.url}/ui/jobs/${job.id}`);
    await page.getByRole('button', { name: `Delete export_report job ${job.id}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete job' }).click();
    await page
      .locator('[data-toast=ok]')
      .filter({ hasText: 'Deleted export_report job' })
      .waitFor();
    await expect.poll(() => path_(page)).toBe('/ui/history');
    await waitFor(
      async () =>
        (await t.pool.query('select 1 from jobdeck.jobs where id = $1', [job.id])).rowCount === 0,
      {
        what: 'the job to be gone',
      },
    );
  });

  it('shows the operator views only to operators, and the buttons a token allows', async () => {
    const page = await signIn('erin', 'user');
    expect(await page.getByRole('link', { name: 'Workers' }).count()).toBe(0);
    await page.goto(`${server.url}/ui/workers`);
    await page.getByText(/Only operators see this/).waitFor();
    // a token without jobs.retry_jobs gets no Retry button; the server would refuse it anyway
    const token = await tokenFor('alice', 'acme', { permissions: ['jobs.view_jobs'] });
    const viewer = await page.context().browser()!.newContext();
    contexts.add(viewer);
    await viewer.addInitScript((value) => sessionStorage.setItem('jobdeck.token', value), token);
    const view = await viewer.newPage();
    await view.goto(`${server.url}/ui/history?status=failed`);
    const row = view.locator(`tr[data-job-id="${seeded.failed}"]`);
    await row.waitFor();
    expect(await row.getByRole('button').count()).toBe(0);
    expect(await view.getByRole('button', { name: 'Retry selected' }).count()).toBe(0);
  });

  it('logged no console errors on any page', () => {
    expect(consoleErrors).toEqual([]);
  });
});
