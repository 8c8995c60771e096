import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { jobdeckFastify } from 'jobdeck/server';

/** Debian's Chromium (`.ci/run` installs it when missing); CHROMIUM_PATH overrides. */
export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
/** Browser tests are skipped where there is no Chromium. */
export const haveChromium = existsSync(CHROMIUM);

/** Starts Chromium headless. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/**
 * Makes `host` an application with its own sign-in and jobdeck mounted under `/jobs-api`:
 * `GET /login?user=…` sets a cookie naming the user (then redirects to `afterLogin`, if given),
 * and jobdeck identifies callers by that cookie (organisation acme, role user), never by a token.
 */
export async function mountWithCookieSignIn(
  host: FastifyInstance,
  connectionString: string,
  options: { afterLogin?: string } = {},
): Promise<void> {
  host.get('/login', async (request, reply) => {
    const { user } = request.query as { user: string };
    reply.header('set-cookie', `app_user=${encodeURIComponent(user)}; Path=/; HttpOnly`);
    return options.afterLogin ? reply.redirect(options.afterLogin) : reply.send('signed in');
  });
  await host.register(jobdeckFastify, {
    prefix: '/jobs-api',
    connectionString,
    identify: (request) => {
      const user = /(?:^|;\s*)app_user=([^;]+)/.exec(request.headers.cookie ?? '')?.[1];
      return user ? { userId: decodeURIComponent(user), orgId: 'acme', role: 'user' } : null;
    },
  });
}

/** What a dashboard test file drives Chromium with; see {@link useBrowser}. */
export interface BrowserBed {
  /** Set before the file's first test (when Chromium is there). */
  browser: Browser;
  /** Contexts a test opened; closed after each test (pages hold live subscriptions). */
  contexts: Set<BrowserContext>;
  /** Console errors and uncaught exceptions of every page, prefixed with the user. */
  consoleErrors: string[];
  /** A new context and page `width` px wide, recording its console errors. */
  newPage(who: string, width?: number): Promise<Page>;
  /** A page signed in through the development sign-in form at `url`. */
  signIn(url: string, user: string, role?: 'user' | 'admin', width?: number): Promise<Page>;
}

/**
 * Registers the hooks a browser test file needs: Chromium launched before its tests, every
 * context a test opened closed after it (before the testbed checks that no subscription is left),
 * Chromium closed at the end.
 */
export function useBrowser(): BrowserBed {
  const bed: BrowserBed = {
    browser: undefined as unknown as Browser,
    contexts: new Set(),
    consoleErrors: [],
    async newPage(who, width = 1200) {
      const context = await bed.browser.newContext({ viewport: { width, height: 900 } });
      bed.contexts.add(context);
      const page = await context.newPage();
      page.on('console', (message) => {
        if (message.type() === 'error') bed.consoleErrors.push(`${who}: ${message.text()}`);
      });
      page.on('pageerror', (error) => bed.consoleErrors.push(`${who}: ${String(error)}`));
      return page;
    },
    async signIn(url, user, role = 'user', width = 1200) {
      const page = await bed.newPage(user, width);
      await page.goto(url);
      await page.locator('input[name=user]').fill(user);
      await page.locator('input[name=org]').fill('acme');
      await page.locator('select[name=role]').selectOption(role);
      await page.getByRole('button', { name: 'Get a development token' }).click();
      await page.locator('[data-connection=live]').waitFor();
      return page;
    },
  };
  beforeAll(async () => {
    if (haveChromium) bed.browser = await launchChromium();
  });
  afterEach(async () => {
    await Promise.all([...bed.contexts].map((context) => context.close()));
    bed.contexts.clear();
  });
  afterAll(async () => {
    await bed.browser?.close();
  });
  return bed;
}
