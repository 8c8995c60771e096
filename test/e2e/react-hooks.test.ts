import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { build, defaultClientConditions, type Rollup } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from 'jobdeck';
import { loadTasks, type TaskRegistry } from '../../src/jobs/registry.ts';
import { ROOT } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { registerTasks, runTestWorker, stopWorkers } from '../helpers/worker.ts';
import { haveChromium, launchChromium, mountWithCookieSignIn } from '../helpers/browser.ts';

let t: TestDatabase;
let tasks: TaskRegistry;
let jobdeck: Jobdeck;
let host: FastifyInstance;
let origin: string;
let browser: Browser;
const consoleErrors: string[] = [];

/** test/fixtures/react-page bundled for the browser, with jobdeck/react from the sources. */
async function bundlePage(): Promise<string> {
  const result = (await build({
    configFile: false,
    logLevel: 'silent',
    root: ROOT,
    resolve: { conditions: ['jobdeck-source', ...defaultClientConditions] },
    define: { 'process.env.NODE_ENV': JSON.stringify('production') },
    build: {
      write: false,
      minify: false,
      rolldownOptions: {
        input: path.join(ROOT, 'test/fixtures/react-page/page.ts'),
        output: { format: 'es', entryFileNames: 'page.js', codeSplitting: false },
      },
    },
  })) as Rollup.RollupOutput | Rollup.RollupOutput[];
  const chunk = (Array.isArray(result) ? result : [result])
    .flatMap((r) => r.output)
    .find((o): o is Rollup.OutputChunk => o.type === 'chunk');
  return chunk!.code;
}

beforeAll(async () => {
  if (!haveChromium) return;
  t = await createTestDatabase();
  tasks = await loadTasks(path.join(ROOT, 'tasks'));
  await registerTasks(t, tasks);
  jobdeck = createJobdeck({ connectionString: t.url });
  const script = await bundlePage();
  // An application with its own sign-in (a cookie names the user) and jobdeck mounted under it:
  // the hooks send no token, the page's cookie identifies the user.
  host = Fastify();
  host.get('/', async (_request, reply) =>
    reply
      .type('text/html')
      .send(
        '<!doctype html><html><head><link rel="icon" href="data:,"></head><body><div id="root"></div><script type="module" src="/page.js"></script></body></html>',
      ),
  );
  host.get('/favicon.ico', async (_request, reply) => reply.code(204).send());
  host.get('/page.js', async (_request, reply) => reply.type('text/javascript').send(script));
  await mountWithCookieSignIn(host, t.url);
  origin = await host.listen({ port: 0, host: '127.0.0.1' });
  browser = await launchChromium();
});

afterAll(async () => {
  await stopWorkers();
  await browser?.close();
  await host?.close();
  await jobdeck?.close();
  await t?.drop();
});

const text = (page: Page, testId: string) => page.getByTestId(testId).textContent();

describe.skipIf(!haveChromium)('jobdeck/react hooks in Chromium', () => {
  it('keep the widget, the active jobs and a batch live, with the application’s session', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    page.on('response', (r) => r.status() >= 400 && consoleErrors.push(`${r.status()} ${r.url()}`));
    await page.goto(`${origin}/login?user=hana`);

    const batch = await jobdeck.enqueueBatch(
      ['a.csv', 'b.csv', 'c.csv'].map((filename) => ({
        type: 'import_file',
        payload: { filename, rows: 20, stepDelayMs: 150 },
      })),
      { ownerId: 'hana', orgId: 'acme' },
    );
    // someone else's job, which none of hana's lists may show
    await jobdeck.enqueueJob(
      'import_file',
      { filename: 'other.csv', rows: 20, stepDelayMs: 0 },
      { ownerId: 'ivan', orgId: 'acme' },
    );
    await page.goto(`${origin}/?batch=${batch.id}`);
    await expect.poll(() => text(page, 'count'), { timeout: 20_000 }).toBe('3 running jobs');
    await expect.poll(() => text(page, 'active-count'), { timeout: 20_000 }).toBe('3 active');
    await expect.poll(() => text(page, 'batch'), { timeout: 20_000 }).toBe('0 % running');
    for (const name of ['widget', 'active', 'batch'])
      expect(await page.getByRole('region', { name }).getAttribute('data-status'), name).toBe(
        'live',
      );
    expect(await page.getByRole('region', { name: 'widget' }).textContent()).toContain(
      'import running 0 a.csv',
    );

    // a job enqueued while the page is open appears without a reload
    await jobdeck.enqueueJob(
      'import_file',
      { filename: 'd.csv', rows: 20, stepDelayMs: 150 },
      { ownerId: 'hana', orgId: 'acme' },
    );
    await expect.poll(() => text(page, 'count'), { timeout: 20_000 }).toBe('4 running jobs');
    await expect.poll(() => text(page, 'active-count'), { timeout: 20_000 }).toBe('4 active');

    const worker = await runTestWorker(t, tasks);
    await expect.poll(() => text(page, 'batch'), { timeout: 30_000 }).toBe('100 % succeeded');
    expect(await page.getByRole('region', { name: 'batch' }).getAttribute('data-status')).toBe(
      'done',
    );
    await expect.poll(() => text(page, 'count'), { timeout: 30_000 }).toBe('0 running jobs');
    await expect.poll(() => text(page, 'active-count'), { timeout: 30_000 }).toBe('0 active');
    await worker.stop();
    const widget = await page.getByRole('region', { name: 'widget' }).textContent();
    for (const file of ['a.csv', 'b.csv', 'c.csv', 'd.csv'])
      expect(widget).toContain(`import completed 100 ${file}`);
    expect(widget).not.toContain('other.csv');
    await context.close();
  });

  it('logged no errors in the browser console', () => {
    expect(consoleErrors).toEqual([]);
  });
});
