// First, so an older Node stops with one line instead of a stack from a dependency.
import '../node-version.ts';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.ts';
import type { JobChangeHub } from '../live/job-changes.ts';
import type { Logger } from '../logger.ts';
import { startJobdeckServer } from './app.ts';

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
 * at /graphiql when `graphiql` is on, REST, event streams, metrics, health and the dashboard),
 * bearer tokens for identity, and `POST /dev/token` when `devSignin` is on. Resolves once the
 * GraphQL schema is built and the port is listening.
 *
 * @throws ConfigError when `devSignin` is on with a non-loopback `host` or in production.
 */
export async function startServer(options: ServerOptions): Promise<JobdeckServer> {
  return startJobdeckServer(options);
}
