import type { Server } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyServerFactory } from 'fastify';
import { checkDevSignin, resolveConfig } from '../config.ts';
import { isLoopbackHost } from '../util/addresses.ts';
import type { Connections } from '../db/connections.ts';
import { makeJobdeckPlugin, type JobdeckFastifyOptions, type JobdeckMount } from './plugin.ts';
import type { JobdeckServer, ServerOptions } from './server.ts';

/** A Fastify app of jobdeck's own, with jobdeck mounted at `prefix`. */
export interface JobdeckApp {
  app: FastifyInstance;
  mount: JobdeckMount;
}

/**
 * A root Fastify app serving jobdeck at `prefix` ('' = the root), ready to route requests: what
 * `startServer` listens with and `createJobdeckHandler` routes into. It owns the router, so it
 * sets what a plugin cannot: malformed URLs get jobdeck's `{error, message}` 400, and path
 * parameters may be long (export file names run to ~200 characters).
 */
export async function createJobdeckApp(
  options: JobdeckFastifyOptions & {
    prefix: string;
    /** Fastify's serverFactory, for an app that never listens itself. */
    serverFactory?: FastifyServerFactory;
    /** The process's connections, shared with its other parts (`jobdeck start`). */
    connections?: Connections;
  },
): Promise<JobdeckApp> {
  const { prefix, serverFactory, connections, ...pluginOptions } = options;
  const config = resolveConfig(options.config);
  const app = Fastify({
    bodyLimit: config.maxBodyBytes,
    logger: false,
    routerOptions: { maxParamLength: 300 },
    // Fastify types this reply by route generics it cannot know here; it is a plain reply.
    frameworkErrors: (error, _request, reply) => {
      const plain = reply as unknown as { code(n: number): { send(body: unknown): void } };
      plain.code(400).send({ error: 'bad_request', message: error.message });
    },
    ...(serverFactory ? { serverFactory } : {}),
  }) as unknown as FastifyInstance<Server>;
  let mount: JobdeckMount | null = null;
  try {
    await app.register(
      makeJobdeckPlugin((mounted) => (mount = mounted), connections),
      { ...pluginOptions, prefix },
    );
    await app.ready();
  } catch (error) {
    await app.close().catch(() => {});
    throw error;
  }
  return { app, mount: mount! };
}

/**
 * `startServer` (jobdeck/server), on connections the process may share with its other parts: what
 * `jobdeck start` runs next to its worker.
 */
export async function startJobdeckServer(
  options: ServerOptions,
  connections?: Connections,
): Promise<JobdeckServer> {
  const { config, logger } = options;
  // Also here: a config built in code never went through loadConfig's check.
  checkDevSignin(config);
  const { app, mount } = await createJobdeckApp({
    prefix: '',
    connectionString: options.connectionString,
    config,
    logger,
    devTokens: config.devSignin,
    ...(connections ? { connections } : {}),
  });
  try {
    const address = await app.listen({ port: options.port ?? config.port, host: config.host });
    const port = app.server.address();
    const actualPort = typeof port === 'object' && port ? port.port : Number(new URL(address).port);
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${actualPort}`;
    // The CLI prints its own banner (once); a program that starts the server has the URL.
    logger?.debug(`listening on ${url}: dashboard at /, GraphQL at /graphql`);
    if (config.devSignin)
      logger?.warn(
        `development sign-in is on (JOBDECK_DEV_SIGNIN=true): POST ${url}/dev/token mints a token for anyone on this machine`,
      );
    if (!config.metricsToken && !isLoopbackHost(config.host))
      logger?.info(
        '/metrics answers only connections from this machine; set JOBDECK_METRICS_TOKEN to scrape it from elsewhere',
      );
    let closing: Promise<void> | null = null;
    return {
      url,
      port: actualPort,
      app,
      changes: mount.changes,
      close: () => {
        closing ??= app.close();
        return closing;
      },
    };
  } catch (error) {
    await app.close().catch(() => {});
    throw error;
  }
}
