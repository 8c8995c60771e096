import { beforeAll, describe, expect, it } from 'vitest';
import type { Jobdeck } from '../../src/client.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { startServer } from '../../src/http/server.ts';
import { TEST_JWT_SECRET, startTestServer } from '../helpers/api.ts';
import { haveChromium, CHROMIUM, useBrowser } from '../helpers/browser.ts';
import { waitFor, waitForStatus, type TestDatabase } from '../helpers/db.ts';
import { useApiTestbed } from '../helpers/testbed.ts';
import { runTestWorker, testConfig } from '../helpers/worker.ts';

if (!haveChromium)
  console.warn(`dashboard e2e tests skipped: no Chromium at ${CHROMIUM} (apt install chromium)`);

let t: TestDatabase;
let jobdeck: Jobdeck;
let server: JobdeckServer;
let tasks: TaskRegistry;

const bed = useApiTestbed();
// after the testbed: its contexts close before the testbed checks that no subscription is left
const chrome = useBrowser();
const { contexts, consoleErrors } = chrome;

beforeAll(() => {
  ({ t, jobdeck, server, tasks } = bed);
});

/** A fresh browser context signed in through the dashboard's development sign-in form. */
const signIn = (user: string, role: 'user' | 'admin' = 'user') =>
  chrome.signIn(`${server.url}/`, user, role);

describe.skipIf(!haveChromium)('the dashboard in Chromium', () => {
  it('enqueues import_file from the form and shows its bar move to 100 % live', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const page = await signIn('alice', 'admin');
      await page.getByRole('link', { name: 'Enqueue', exact: true }).click();
      await page
        .locator('textarea[name=payload]')
        .fill('{"filename": "people.csv", "rows": 50, "stepDelayMs": 250}');
      await page.getByRole('button', { name: 'Enqueue' }).click();
      // back on the active tab: the job appears and its bar moves without a reload
      const bar = page.locator('article.job progress').first();
      await bar.waitFor();
      const seen = new Set<number>();
      const id = await page.locator('article.job').first().getAttribute('data-job-id');
      await waitFor(
        async () => {
          if ((await page.locator('article.job').count()) === 0) return true;
          // short timeout: the bar disappears when the job finishes
          seen.add(Number(await bar.getAttribute('value', { timeout: 200 }).catch(() => '0')));
          return false;
        },
        { timeoutMs: 20_000, intervalMs: 50, what: 'the job to finish on screen' },
      ).catch(async (error: Error) => {
        await page.screenshot({ path: '/tmp/e2e-fail.png' });
        throw error;
      });
      expect([...seen].some((value) => value > 0 && value < 100)).toBe(true);
      await waitForStatus(jobdeck, id!, 'succeeded');
      await page.getByRole('link', { name: 'History', exact: true }).click();
      const row = page.locator(`tr[data-job-id="${id}"]`);
      await expect.poll(() => row.locator('td').nth(2).textContent()).toBe('succeeded');
      await expect.poll(() => row.locator('td').nth(4).textContent()).toBe('100%');
      await page.context().close();
    } finally {
      await worker.stop();
    }
  });

  it('cancels a running job, retries a failed one and filters the history', async () => {
    const worker = await runTestWorker(t, tasks);
    try {
      const page = await signIn('alice');
      const slow = await jobdeck.enqueueJob(
        'export_report',
        { reportType: 'quotes', format: 'csv', stepDelayMs: 3000 },
        { ownerId: 'alice', orgId: 'acme' },
      );
      const article = page.locator(`article.job[data-job-id="${slow.id}"]`);
      await article.and(page.locator('[data-status="running"]')).waitFor({ timeout: 15_000 });
      await article.getByRole('button', { name: /^Cancel/ }).click();
      // a destructive step asks first, and says what it did
      await page.getByRole('dialog').getByRole('button', { name: 'Cancel job' }).click();
      await page
        .locator('[data-toast=ok]')
        .filter({ hasText: /export_report job/ })
        .waitFor();
      await waitForStatus(jobdeck, slow.id, 'cancelled', { timeoutMs: 20_000 });
      await article.waitFor({ state: 'detached' });

      const broken = await jobdeck.enqueueJob(
        'export_report',
        { reportType: 'invalid_report', format: 'csv', stepDelayMs: 0 },
        { ownerId: 'alice', orgId: 'acme' },
      );
      await waitForStatus(jobdeck, broken.id, 'failed');
      await worker.stop();
      await page.getByRole('link', { name: 'History', exact: true }).click();
      await page.locator('select[name=status]').selectOption('failed');
      const row = page.locator(`tr[data-job-id="${broken.id}"]`);
      await row.waitFor();
      await expect.poll(() => page.locator('tbody tr').count()).toBe(1);
      await row.getByRole('button', { name: /^Retry/ }).click();
      await expect.poll(async () => (await jobdeck.getJob(broken.id)).manual_retries).toBe(1);
      expect((await jobdeck.getJob(broken.id)).status).toBe('queued');
      await page.context().close();
    } finally {
      await worker.stop();
    }
  });

  it('never shows user B the jobs of user A', async () => {
    const mine = await jobdeck.enqueueJob(
      'export_report',
      { reportType: 'quotes', format: 'csv' },
      { ownerId: 'carol', orgId: 'acme', runAt: new Date(Date.now() + 3_600_000) },
    );
    const page = await signIn('bob');
    await page.getByRole('link', { name: 'History', exact: true }).click();
    await page.getByText(/\d+ jobs/).waitFor();
    expect(await page.locator(`[data-job-id="${mine.id}"]`).count()).toBe(0);
    await page.getByRole('link', { name: 'Active', exact: true }).click();
    await page.getByText('No active jobs.').waitFor();
    await page.context().close();
  });

  it('reconnects its live updates after a server restart', async () => {
    const first = await startTestServer(t);
    const port = first.port;
    const context = await chrome.browser.newContext();
    contexts.add(context);
    const page = await context.newPage();
    await page.goto(`${first.url}/`);
    await page.locator('input[name=user]').fill('erin');
    await page.getByRole('button', { name: 'Get a development token' }).click();
    await page.getByText('No active jobs.').waitFor();
    const connection = page.locator('[data-connection]');
    await expect.poll(() => connection.getAttribute('data-connection')).toBe('live');
    await first.close();
    // the indicator says the live updates are gone, then back
    await expect
      .poll(() => connection.getAttribute('data-connection'), { timeout: 10_000 })
      .toBe('reconnecting');
    const second = await startServer({
      config: testConfig({ jwtSecret: TEST_JWT_SECRET, host: '127.0.0.1', devSignin: true }),
      connectionString: t.url,
      port,
    });
    try {
      // the page's websocket finds the new server by itself; a new job then shows up live
      await waitFor(() => second.changes.activeSubscriptions > 0, {
        timeoutMs: 30_000,
        what: 'the page to resubscribe',
      });
      const job = await jobdeck.enqueueJob(
        'export_report',
        { reportType: 'quotes', format: 'csv' },
        { ownerId: 'erin', orgId: 'acme', runAt: new Date(Date.now() + 3_600_000) },
      );
      await page.locator(`article.job[data-job-id="${job.id}"]`).waitFor({ timeout: 15_000 });
      expect(await connection.getAttribute('data-connection')).toBe('live');
    } finally {
      await context.close();
      await second.close();
    }
  });

  it('logged no console errors on any page', () => {
    expect(consoleErrors).toEqual([]);
  });
});
