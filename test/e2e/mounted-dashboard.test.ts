import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from 'jobdeck';
import { loadTasks } from '../../src/jobs/registry.ts';
import { ROOT } from '../helpers/cli.ts';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';
import { haveChromium, launchChromium, mountWithCookieSignIn } from '../helpers/browser.ts';

let t: TestDatabase;
let jobdeck: Jobdeck;
let host: FastifyInstance;
let origin: string;
let browser: Browser;
const consoleErrors: string[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  await registerTasks(t, await loadTasks(path.join(ROOT, 'tasks')));
  jobdeck = createJobdeck({ connectionString: t.url });
  // An application with its own sign-in: a cookie names the user; jobdeck is mounted under it.
  host = Fastify();
  await mountWithCookieSignIn(host, t.url, { afterLogin: '/jobs-api/' });
  origin = await host.listen({ port: 0, host: '127.0.0.1' });
  if (haveChromium) browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await host?.close();
  await jobdeck?.close();
  await t?.drop();
});

describe.skipIf(!haveChromium)('the dashboard mounted in an application', () => {
  it('uses the application’s session: no token, live jobs of the signed-in user', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
      page.on('pageerror', (error) => consoleErrors.push(String(error)));
      await page.goto(`${origin}/jobs-api/`);
      await page.getByRole('heading', { name: 'Not signed in' }).waitFor();

      await page.goto(`${origin}/login?user=dora`);
      // the dashboard's pages live under its own /ui/, relative to where it is mounted
      expect(new URL(page.url()).pathname).toBe('/jobs-api/ui/');
      await page.getByText('dora · acme').waitFor();
      await page.getByText('No active jobs.').waitFor();
      expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
      // the page's websocket (authenticated by the cookie on its upgrade) brings a new job in
      await waitFor(
        async () => {
          const metrics = await (await fetch(`${origin}/jobs-api/metrics`)).text();
          return /^jobdeck_subscriptions [1-9]/m.test(metrics);
        },
        { what: 'the page to subscribe' },
      );
      const job = await jobdeck.enqueueJob(
        'export_report',
        { reportType: 'quotes', format: 'csv' },
        { ownerId: 'dora', orgId: 'acme', runAt: new Date(Date.now() + 3_600_000) },
      );
      await page.locator(`article.job[data-job-id="${job.id}"]`).waitFor({ timeout: 15_000 });
      await page.getByRole('link', { name: `Open export_report job ${job.id}` }).click();
      await page.getByRole('heading', { name: `Job ${job.id}` }).waitFor();
      expect(new URL(page.url()).pathname).toBe(`/jobs-api/ui/jobs/${job.id}`);
      // a deep link under the prefix survives a reload
      await page.reload();
      await page.getByRole('heading', { name: `Job ${job.id}` }).waitFor();
    } finally {
      await context.close();
    }
  });

  it('logged no console errors', () => {
    // The signed-out page's requests answer 200 too: nothing should have failed.
    expect(consoleErrors).toEqual([]);
  });
});
