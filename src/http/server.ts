// First, so an older Node stops with one line instead of a stack from a dependency.
import '../node-version.ts';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.ts';
import type { JobChangeHub } from '../live/job-changes.ts';
import type { Logger } from '../logger.ts';
import { createJobdeckApp } from './app.ts';

export { jobdeckFastify, type JobdeckFastifyOptions } from './plugin.ts';
export {
  createJobdeckHandler,
  type JobdeckHandler,
  type JobdeckHandlerOptions,
} from './handler.ts';
export type { CallerIdentity, IdentifyRequest } from './identify.ts';

/** Options of {@link startServer}. */
export interface ServerOptions {
  config: Config;
  connectionString: string;
  logger?: Logger;
  /** Overrides the configured port (0 = a free one); tests use this. */
  port?: number;
}

/** A running jobdeck HTTP server. */
export interface JobdeckServer {
  /** Base URL, e.g. http://127.0.0.1:4000 */
  url: string;
  port: number;
  app: FastifyInstance;
  /** The LISTEN/NOTIFY fan-out behind GraphQL subscriptions. */
  changes: JobChangeHub;
  /** Stops accepting, lets requests in flight finish, closes websockets and connections. */
  close(): Promise<void>;
}

/**
 * The standalone jobdeck HTTP server of `jobdeck serve` / `start`: {@link jobdeckFastify} at the
 * root of a Fastify app of its own (GraphQL at /graphql with graphql-ws on the same path, GraphiQL
 * at /graphiql outside production, REST, event streams, metrics, health and the dashboard),
 * bearer tokens for identity, and `POST /dev/token` outside production. Resolves once the GraphQL
 * schema is built and the port is listening.
 */
export async function startServer(options: ServerOptions): Promise<JobdeckServer> {
  const { config, logger } = options;
  const { app, mount } = await createJobdeckApp({
    prefix: '',
    connectionString: options.connectionString,
    config,
    logger,
    devTokens: !config.production,
  });
  try {
    const address = await app.listen({ port: options.port ?? config.port, host: config.host });
    const port = app.server.address();
    const actualPort = typeof port === 'object' && port ? port.port : Number(new URL(address).port);
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${actualPort}`;
    logger?.info(`GraphQL: ${url}/graphql${config.graphiql ? ` (GraphiQL: ${url}/graphiql)` : ''}`);
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
