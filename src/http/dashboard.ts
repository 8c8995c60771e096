import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { signToken } from '../graphql/auth.ts';
import { HttpError } from './rest/errors.ts';
import { PACKAGE_ROOT } from '../paths.ts';

/** The dashboard's files (plain ES modules: no build step, so `npm start` is all it takes). */
export const DASHBOARD_DIR = path.join(PACKAGE_ROOT, 'dashboard');

/** Browser builds of the dashboard's libraries: [package, file in it], served by fixed name. */
const VENDOR: Record<string, [string, string]> = {
  'preact.js': ['preact', 'dist/preact.module.js'],
  'preact-hooks.js': ['preact', 'hooks/dist/hooks.module.js'],
  'htm.js': ['htm', 'dist/htm.module.js'],
  'graphql-ws.js': ['graphql-ws', 'dist/client.js'],
};

/** A package's folder, wherever npm put it (packages' exports hide their other files). */
function packageRoot(name: string): string {
  let dir = path.dirname(createRequire(import.meta.url).resolve(name));
  while (!existsSync(path.join(dir, 'package.json')) || path.basename(dir) === 'dist')
    dir = path.dirname(dir);
  return dir;
}

export interface DashboardOptions {
  /** Outside production, `POST /dev/token` mints tokens so one can sign in without an app. */
  devTokens: boolean;
  jwtSecret: string;
}

const devTokenBody = z
  .object({
    user: z.string().min(1).max(200),
    org: z.string().min(1).max(200),
    role: z.enum(['user', 'admin']).default('user'),
  })
  .strict();

/**
 * The live dashboard at `/` (dashboard/), its vendored modules at `/vendor/*`, and in
 * development `POST /dev/token`. Everything else the dashboard does goes through GraphQL with
 * the signed-in user's token.
 */
export async function registerDashboard(
  app: FastifyInstance,
  options: DashboardOptions,
): Promise<void> {
  await app.register(fastifyStatic, { root: DASHBOARD_DIR, prefix: '/', index: 'index.html' });
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
      .type('text/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=3600')
      .send(body);
  });
  if (options.devTokens) {
    app.post('/dev/token', async (request) => {
      const parsed = devTokenBody.safeParse(request.body ?? {});
      if (!parsed.success)
        throw new HttpError(
          400,
          'invalid_request',
          `invalid body: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        );
      const { user, org, role } = parsed.data;
      return {
        token: await signToken(
          { userId: user, orgId: org, role, ttlSeconds: 8 * 3600 },
          options.jwtSecret,
        ),
      };
    });
  }
}
