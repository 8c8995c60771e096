import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { signToken } from '../auth/tokens.ts';
import { type Identity } from '../auth/identity.ts';
import { UnauthorizedError } from '../errors.ts';
import {
  ACTIVE_STATUSES,
  CANCELLABLE_STATUSES,
  FINISHED_STATUSES,
  RETRYABLE_STATUSES,
} from '../jobs/states.ts';
import { HttpError } from './rest/errors.ts';
import { isLocalRequest } from './local.ts';
import { PACKAGE_ROOT } from '../paths.ts';

/** The dashboard's files (plain ES modules: no build step, so `npm start` is all it takes). */
export const DASHBOARD_DIR = path.join(PACKAGE_ROOT, 'dashboard');

/** Browser builds of the dashboard's libraries: [package, file in it], served by fixed name. */
const VENDOR: Record<string, [string, string]> = {
  'preact.js': ['preact', 'dist/preact.module.js'],
  'preact-hooks.js': ['preact', 'hooks/dist/hooks.module.js'],
  'htm.js': ['htm', 'dist/htm.module.js'],
  'graphql-ws.js': ['graphql-ws', 'dist/client.js'],
  // The charts (throughput, failures, durations): axes, time labels, legend and hover values.
  'uplot.js': ['uplot', 'dist/uPlot.esm.js'],
  'uplot.css': ['uplot', 'dist/uPlot.min.css'],
};

/** The dashboard's own URL space: every view and every job, queue and batch lives under it. */
export const DASHBOARD_PAGES = '/ui/';

/** A package's folder, wherever npm put it (packages' exports hide their other files). */
function packageRoot(name: string): string {
  let dir = path.dirname(createRequire(import.meta.url).resolve(name));
  while (!existsSync(path.join(dir, 'package.json')) || path.basename(dir) === 'dist')
    dir = path.dirname(dir);
  return dir;
}

/** What the dashboard's routes need from the plugin serving them. */
export interface DashboardOptions {
  /**
   * `POST /dev/token` mints tokens so one can sign in without an app (development only); it
   * answers only requests from this machine ({@link isLocalRequest}).
   */
  devTokens: boolean;
  /** Signs development tokens. */
  jwtSecret: string | null;
  /** The URL path the dashboard is served under ('' at the root). */
  prefix: string;
  /**
   * `application`: callers are identified by the application's `identify` (its session cookie),
   * so the page uses the browser's session; `token`: the page signs in with a bearer token.
   */
  auth: 'application' | 'token';
  /** @throws UnauthorizedError saying why the caller is refused. */
  callerOf(request: FastifyRequest): Promise<Identity | null>;
}

/**
 * The page with its URLs under `prefix`: its stylesheet, script and import map point at
 * `<prefix>/…`, so the page works wherever the application mounts jobdeck (app.js finds the API
 * next to itself, from its own URL).
 */
export function renderIndex(html: string, prefix: string): string {
  if (prefix === '') return html;
  return html
    .replace(/(\s(?:href|src)=")\/(?!\/)/g, `$1${prefix}/`)
    .replace(/("[\w/-]+":\s*")\/vendor\//g, `$1${prefix}/vendor/`);
}

/** What the page needs of src/jobs/states.ts: which statuses are active, finished, and may be acted on. */
export const PAGE_STATES = {
  active: ACTIVE_STATUSES,
  finished: FINISHED_STATUSES,
  cancellable: CANCELLABLE_STATUSES,
  retryable: RETRYABLE_STATUSES,
};

const STATES_ELEMENT = '<script type="application/json" id="jobdeck-states"></script>';

/** The page with {@link PAGE_STATES} in its `jobdeck-states` element, which app.js reads. */
export function withPageStates(html: string): string {
  if (!html.includes(STATES_ELEMENT))
    throw new Error('dashboard/index.html lacks its jobdeck-states element');
  // `<` escaped, so no value could ever close the script element
  const json = JSON.stringify(PAGE_STATES).replace(/</g, '\\u003c');
  return html.replace(STATES_ELEMENT, STATES_ELEMENT.replace('></', `>${json}</`));
}

const devTokenBody = z
  .object({
    user: z.string().min(1).max(200),
    org: z.string().min(1).max(200),
    role: z.enum(['user', 'admin']).default('user'),
  })
  .strict();

/**
 * The live dashboard (dashboard/): its pages at `/ui/…` (`/` leads there), its files at `/`, its
 * vendored modules at `/vendor/*`, `GET /session`
 * (who the API takes the caller to be, and whether the development sign-in is on), and when asked
 * for `POST /dev/token`. Everything else the dashboard does goes through GraphQL as the signed-in
 * user.
 */
export async function registerDashboard(
  app: FastifyInstance,
  options: DashboardOptions,
): Promise<void> {
  // reply.sendFile is not used; not decorating it leaves an application's own @fastify/static be.
  await app.register(fastifyStatic, {
    root: DASHBOARD_DIR,
    prefix: '/',
    index: false,
    decorateReply: false,
  });
  const page = withPageStates(
    renderIndex(await readFile(path.join(DASHBOARD_DIR, 'index.html'), 'utf8'), options.prefix),
  );
  const index = async (_request: unknown, reply: FastifyReply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(page);
  // Pages live under /ui/ (`/ui/jobs/<id>`, `/ui/history?status=failed`…), never beside the API's
  // routes (`/jobs/{id}` is REST's): the server answers each with the page, which routes itself.
  const pages = `${options.prefix}${DASHBOARD_PAGES}`;
  const toPages = async (request: FastifyRequest, reply: FastifyReply) => {
    const query = request.url.indexOf('?');
    return reply.redirect(query === -1 ? pages : `${pages}${request.url.slice(query)}`);
  };
  app.get('/', toPages);
  app.get('/index.html', toPages);
  app.get(DASHBOARD_PAGES.slice(0, -1), toPages);
  app.get(DASHBOARD_PAGES, index);
  app.get(`${DASHBOARD_PAGES}*`, index);
  const devSignin = Boolean(options.devTokens && options.jwtSecret);
  // Always 200: a refused caller is "not signed in", with the reason, not an error.
  app.get('/session', async (request) => {
    try {
      const identity = await options.callerOf(request);
      return {
        auth: options.auth,
        devSignin,
        identity: identity && {
          userId: identity.userId,
          orgId: identity.orgId,
          role: identity.role,
          permissions: identity.permissions,
        },
      };
    } catch (error) {
      if (!(error instanceof UnauthorizedError)) throw error;
      return { auth: options.auth, devSignin, identity: null, message: error.message };
    }
  });
  const vendorFiles = new Map<string, string>();
  for (const [name, [pkg, file]] of Object.entries(VENDOR)) {
    vendorFiles.set(name, path.join(packageRoot(pkg), file));
  }
  // graphql-ws's client imports one shared chunk next to it; serve it under its own name.
  const wsDir = path.join(packageRoot('graphql-ws'), 'dist/');
  app.get('/vendor/:file', async (request, reply) => {
    const { file } = request.params as { file: string };
    const path =
      vendorFiles.get(file) ??
      (/^common-[A-Za-z0-9_-]+\.js$/.test(file) ? `${wsDir}${file}` : undefined);
    if (!path) throw new HttpError(404, 'not_found', `no vendored file ${file}`);
    const body = await readFile(path).catch(() => null);
    if (!body) throw new HttpError(404, 'not_found', `no vendored file ${file}`);
    return reply
      .type(file.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=3600')
      .send(body);
  });
  const { jwtSecret } = options;
  if (devSignin && jwtSecret) {
    app.post('/dev/token', async (request) => {
      // A second line behind "loopback hosts only": an application may mount jobdeck on any
      // interface, or behind a proxy on this machine.
      if (!isLocalRequest(request))
        throw new HttpError(
          403,
          'forbidden',
          'the development sign-in answers only requests from this machine (loopback, not through a proxy)',
        );
      const parsed = devTokenBody.safeParse(request.body ?? {});
      if (!parsed.success)
        throw new HttpError(
          400,
          'invalid_request',
          `invalid body: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        );
      const { user, org, role } = parsed.data;
      return {
        token: await signToken({ userId: user, orgId: org, role, ttlSeconds: 8 * 3600 }, jwtSecret),
      };
    });
  }
}
