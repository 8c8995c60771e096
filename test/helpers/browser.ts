import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser } from 'playwright-core';
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
