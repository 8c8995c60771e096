import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { migrate, startEmbeddedPostgres, type EmbeddedPostgres } from 'jobdeck';
import pg from 'pg';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/server.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** Debian's Chromium (apt-get install chromium); CHROMIUM_PATH overrides. */
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`react-upload browser test skipped: no Chromium at ${CHROMIUM}`);

let dataDir: string;
let database: EmbeddedPostgres | undefined;
let worker: ChildProcess | undefined;
let app: FastifyInstance | undefined;
let browser: Browser | undefined;
let origin: string;
const consoleErrors: string[] = [];

/** Starts `jobdeck worker` from the installed package, as the application's Procfile would. */
async function startWorker(databaseUrl: string): Promise<ChildProcess> {
  const child = spawn(
    path.join(ROOT, 'node_modules/.bin/jobdeck'),
    ['worker', '--tasks', 'tasks'],
    {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: os.tmpdir(), DATABASE_URL: databaseUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('jobdeck worker: ready')) resolve();
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.once('exit', () => reject(new Error(`jobdeck worker exited:\n${output}`)));
  });
  return child;
}

beforeAll(async () => {
  if (!haveChromium) return;
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'react-upload-'));
  // As root, PostgreSQL runs as an unprivileged OS user, who must be able to enter this folder.
  await chmod(dataDir, 0o755);
  database = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'pg') });
  const pool = new pg.Pool({ connectionString: database.url });
  await migrate(pool);
  await pool.end();
  worker = await startWorker(database.url);
  app = await buildServer({
    connectionString: database.url,
    jwtSecret: 'react-upload-example-secret-of-at-least-32-characters',
    uploadsDir: path.join(dataDir, 'uploads'),
    stepDelayMs: 200,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  if (worker && worker.exitCode === null) {
    const exited = new Promise((resolve) => worker!.once('exit', resolve));
    worker.kill('SIGTERM');
    await exited;
  }
  await database?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** Opens the page, records every percentage it shows, and uploads a small CSV. */
async function uploadOn(page: Page, name: string) {
  await page.goto(origin);
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { seen: string[] }).seen = seen;
    new MutationObserver(() => {
      for (const node of document.querySelectorAll('[data-testid=percent]'))
        if (seen.at(-1) !== node.textContent) seen.push(node.textContent ?? '');
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await page.getByLabel('File').setInputFiles({
    name,
    mimeType: 'text/csv',
    buffer: Buffer.from('id,name\n1,ada\n2,grace\n'),
  });
  await page.getByRole('button', { name: 'Upload' }).click();
  return page.getByRole('region', { name: `upload ${name}` });
}

describe.skipIf(!haveChromium)('the React upload page', () => {
  it('follows the upload’s job live to 100 %', async () => {
    const page = await browser!.newPage();
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    const panel = await uploadOn(page, 'people.csv');
    await expect
      .poll(() => panel.getByTestId('connection').textContent(), { timeout: 30_000 })
      .toBe('(live)');
    await expect
      .poll(() => panel.getByTestId('status').textContent(), { timeout: 30_000 })
      .toBe('succeeded');
    expect(await panel.getByTestId('percent').textContent()).toBe('100 %');
    expect(await panel.getByRole('progressbar').getAttribute('value')).toBe('100');
    expect(await panel.getByTestId('connection').textContent()).toBe('(done)');
    // pushed step by step over the event stream, not read once at the end
    const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
    const values = seen.map((text) => Number.parseInt(text, 10));
    expect(values.filter((v) => v > 0 && v < 100).length).toBeGreaterThan(3);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    await page.close();
  });

  it('cancels a job half-way through', async () => {
    const page = await browser!.newPage();
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    const panel = await uploadOn(page, 'big.csv');
    await expect
      .poll(async () => Number.parseInt((await panel.getByTestId('percent').textContent())!, 10), {
        timeout: 30_000,
      })
      .toBeGreaterThanOrEqual(20);
    await panel.getByRole('button', { name: 'Cancel' }).click();
    await expect
      .poll(() => panel.getByTestId('status').textContent(), { timeout: 30_000 })
      .toBe('cancelled');
    expect(Number.parseInt((await panel.getByTestId('percent').textContent())!, 10)).toBeLessThan(
      100,
    );
    await expect(panel.getByRole('button', { name: 'Cancel' }).count()).resolves.toBe(0);
    await page.close();
  });

  it('logged no errors in the browser console', () => {
    expect(consoleErrors).toEqual([]);
  });
});
