// `npm run screenshots`: refreshes docs/screenshots/*.png, the dashboard's views as docs/dashboard.md
// and the README show them. Starts an embedded PostgreSQL in a temporary folder (or uses
// TEST_DATABASE_URL's server), a server and a worker over it, enqueues a mix of jobs, and has
// Chromium (CHROMIUM_PATH, default /usr/bin/chromium) photograph each view at its URL.
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { createJobdeck } from '../src/client.ts';
import { loadConfig } from '../src/config.ts';
import { migrate } from '../src/db/migrate.ts';
import { createPool } from '../src/db/pool.ts';
import { startServer } from '../src/http/server.ts';
import { createLogger } from '../src/logger.ts';
import { PACKAGE_ROOT } from '../src/paths.ts';
import { loadTasks, registerTaskTypes } from '../src/jobs/registry.ts';
import { startWorker } from '../src/worker/runner.ts';
import { withScratchDatabase } from './scratch-database.ts';

const OUT = path.join(PACKAGE_ROOT, 'docs/screenshots');
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

await withScratchDatabase('jobdeck_screenshots', async (connectionString) => {
  const crontabFile = path.join(os.tmpdir(), `jobdeck-screenshots-crontab-${process.pid}`);
  await writeFile(
    crontabFile,
    '0 * * * * prune_jobs ?fill=2h\n30 6 * * 1-5 export_report {reportType:"quotes",format:"csv"}\n',
  );
  const config = {
    ...loadConfig({}),
    host: '127.0.0.1',
    devSignin: true,
    jwtSecret: 'screenshots-secret-that-is-at-least-32-characters',
    operatorOrgs: ['acme'],
    crontabFile,
    pollIntervalMs: 200,
    logLevel: 'error' as const,
  };
  const pool = createPool(connectionString, { max: 3 });
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    await migrate(pool);
    const tasks = await loadTasks(path.join(PACKAGE_ROOT, 'tasks'));
    await registerTaskTypes(pool, tasks, config);
    const server = await startServer({ config, connectionString, port: 0 });
    cleanups.push(() => server.close());
    const worker = await startWorker({
      connectionString,
      tasks,
      config,
      logger: createLogger('error', 'screenshots'),
    });
    cleanups.push(() => worker.stop());
    const jobdeck = createJobdeck({ connectionString });
    cleanups.push(() => jobdeck.close());

    // What the views show: finished jobs of each outcome, a batch, a paused queue, running jobs.
    const owner = { ownerId: 'alice', orgId: 'acme' };
    for (let i = 0; i < 6; i++)
      await jobdeck.enqueueJob(
        'import_file',
        { filename: `people-${i}.csv`, rows: 30, stepDelayMs: 150 + 60 * i },
        { ...owner, key: `import-${i}` },
      );
    for (let i = 0; i < 2; i++)
      await jobdeck.enqueueJob(
        'export_report',
        { reportType: 'invalid_report', format: 'csv', stepDelayMs: 0 },
        { ...owner, queue: 'reports' },
      );
    const cancelled = await jobdeck.enqueueJob(
      'export_report',
      { reportType: 'quotes', format: 'csv' },
      { ...owner, runAt: new Date(Date.now() + 3_600_000) },
    );
    await jobdeck.cancelJob(cancelled.id, 'not needed any more');
    const batch = await jobdeck.enqueueBatch(
      [1, 2, 3, 4].map((n) => ({
        type: 'import_file',
        payload: { filename: `part-${n}.csv`, rows: 10, stepDelayMs: 50 },
      })),
      owner,
    );
    await pool.query('select jobdeck.set_queue_concurrency($1, $2)', ['reports', 2]);
    await jobdeck.pause({ queue: 'emails' }, { reason: 'SMTP down' });
    await jobdeck
      .enqueueJob(
        'notification',
        { channel: 'email', to: 'ops@example.com', message: 'weekly report' },
        { ...owner, queue: 'emails' },
      )
      .catch(() => undefined);
    const waitIdle = async () => {
      for (let i = 0; i < 200; i++) {
        const { rows } = await pool.query<{ n: string }>(
          "select count(*) as n from jobdeck.jobs where status in ('queued', 'running', 'retrying') and run_at <= now()",
        );
        if (rows[0]!.n === '0') return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    await waitIdle();
    // running while photographed: long steps, one waiting in a queue of its own
    const detail = await jobdeck.enqueueJob(
      'import_file',
      { filename: 'customers.csv', rows: 400, stepDelayMs: 1500 },
      { ...owner, key: 'customers-import' },
    );
    await jobdeck.enqueueJob(
      'export_report',
      { reportType: 'orders', format: 'csv', stepDelayMs: 2000 },
      { ...owner, queue: 'reports' },
    );
    await jobdeck.enqueueJob(
      'export_report',
      { reportType: 'quotes', format: 'csv' },
      { ...owner, queue: 'reports', runAt: new Date(Date.now() + 600_000) },
    );
    const failed = (
      await pool.query<{ id: string }>(
        "select id from jobdeck.jobs where status = 'failed' limit 1",
      )
    ).rows[0]!.id;
    await new Promise((resolve) => setTimeout(resolve, 3500));

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    cleanups.push(() => browser.close());
    const shoot = async (page: Page, to: string, file: string, ready: string) => {
      await page.goto(`${server.url}${to}`);
      await page.locator(ready).first().waitFor();
      await page.waitForTimeout(400);
      await page.screenshot({ path: path.join(OUT, file), fullPage: true });
      console.log(`docs/screenshots/${file}  ${to}`);
    };
    const open = async (width: number) => {
      const context = await browser.newContext({ viewport: { width, height: 800 } });
      const page = await context.newPage();
      await page.goto(`${server.url}/`);
      return page;
    };
    const signInPage = await open(1100);
    await signInPage.locator('input[name=user]').waitFor();
    await signInPage.screenshot({ path: path.join(OUT, 'sign-in.png') });
    console.log('docs/screenshots/sign-in.png  /ui/ (signed out)');
    await signInPage.locator('select[name=role]').selectOption('admin');
    await signInPage.getByRole('button', { name: 'Get a development token' }).click();
    await signInPage.locator('[data-connection=live]').waitFor();
    const page = signInPage;
    await shoot(page, '/ui/', 'active.png', 'article.job');
    await shoot(page, '/ui/history', 'history.png', 'tbody tr');
    await shoot(page, `/ui/jobs/${detail.id}`, 'detail.png', 'ol.log li');
    await shoot(page, `/ui/jobs/${failed}`, 'detail-failed.png', '[data-attempts]');
    await shoot(page, '/ui/queues', 'queues.png', '[data-queue]');
    await shoot(page, '/ui/workers', 'workers.png', '[data-worker]');
    await shoot(page, `/ui/batches/${batch.id}`, 'batch.png', '[data-batch]');
    await shoot(page, '/ui/schedules', 'schedules.png', '[data-schedule]');
    await shoot(page, '/ui/stats?range=1h', 'stats.png', '.uplot');
    // a destructive step asks first
    await page.goto(`${server.url}/ui/history?status=failed`);
    await page.getByRole('button', { name: /^Select all/ }).click();
    await page.getByRole('button', { name: 'Retry selected' }).click();
    await page.getByRole('dialog').waitFor();
    await page.waitForTimeout(200);
    await page.screenshot({ path: path.join(OUT, 'bulk-retry.png') });
    console.log('docs/screenshots/bulk-retry.png  /ui/history?status=failed');
    // running again for the narrow view
    await jobdeck.enqueueJob(
      'import_file',
      { filename: 'orders.csv', rows: 200, stepDelayMs: 1500 },
      owner,
    );
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const narrow = await open(390);
    await narrow.evaluate<void, string>(
      (token) => sessionStorage.setItem('jobdeck.token', token),
      await page.evaluate<string>("sessionStorage.getItem('jobdeck.token')"),
    );
    await shoot(narrow, '/ui/', 'narrow.png', 'article.job');
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await pool.end();
    await rm(crontabFile, { force: true });
  }
});
