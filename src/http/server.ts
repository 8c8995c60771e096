import path from 'node:path';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { postgraphile } from 'postgraphile';
import { grafserv } from 'postgraphile/grafserv/fastify/v5';
import type { Config } from '../config.ts';
import { createPool } from '../db/pool.ts';
import { UnauthorizedError } from '../errors.ts';
import { installErrorHandler } from './rest/errors.ts';
import { registerRestRoutes } from './rest/routes.ts';
import { registerSseRoutes } from './sse.ts';
import { registerHealth } from './health.ts';
import { registerMetrics } from './metrics.ts';
import { registerOpenApi } from './openapi.ts';
import { registerDashboard } from './dashboard.ts';
import { VERSION } from '../version.ts';
import { bearerToken, loadJwtSecret, verifyToken, type Identity } from '../graphql/auth.ts';
import { makeGraphqlPreset } from '../graphql/preset.ts';
import { MAX_VALUE_NESTING, valueNesting } from '../graphql/limits.ts';
import { JobChangeHub } from '../live/job-changes.ts';
import { PgListener } from '../live/listener.ts';
import type { Logger } from '../logger.ts';

/** Routes that need no token (and get none checked). */
const PUBLIC_ROUTES = new Set([
  '/healthz',
  '/readyz',
  '/metrics',
  '/openapi.json',
  '/graphiql',
  // the dashboard's files; its data comes through GraphQL with the signed-in user's token
  '/',
  '/*',
  '/vendor/:file',
  '/dev/token',
]);

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
 * The jobdeck HTTP server: GraphQL at /graphql (and graphql-ws on the same path), GraphiQL at
 * /graphiql outside production, GET /healthz. Fastify, so later REST routes, SSE, metrics and
 * the dashboard live in the same process. Resolves once the GraphQL schema is built and the port
 * is listening.
 */
export async function startServer(options: ServerOptions): Promise<JobdeckServer> {
  const { config, logger } = options;
  const jwtSecret = await loadJwtSecret(config);
  const apiPool = createPool(options.connectionString, {
    max: 10,
    applicationName: 'jobdeck-api',
    role: 'jobdeck_api',
  });
  // Cluster-wide figures for /metrics and /readyz need the owner's rights, not a user's.
  const ownerPool = createPool(options.connectionString, {
    max: 3,
    applicationName: 'jobdeck-api-health',
  });
  const listener = new PgListener(options.connectionString, logger ? { logger } : {});
  const changes = new JobChangeHub(listener);
  // Bearer tokens on HTTP are checked before GraphQL runs, so a bad one gets a plain 401 with the
  // reason; GraphQL then reads the verified identity from here.
  const identities = new WeakMap<object, Identity | null>();
  const knownIdentity = (requestContext: Partial<Grafast.RequestContext>) => {
    const request = (requestContext as { fastifyv5?: { request?: object } }).fastifyv5?.request;
    return request && identities.has(request) ? identities.get(request)! : undefined;
  };
  const pgl = postgraphile(
    makeGraphqlPreset({ config, apiPool, jwtSecret, changes, knownIdentity }),
  );
  const app = Fastify({
    bodyLimit: config.maxBodyBytes,
    logger: false,
    // export file names run to ~200 characters
    routerOptions: { maxParamLength: 300 },
    // malformed URLs get the same {error, message} as every other client mistake
    frameworkErrors: (error, _request, reply) => {
      // Fastify types this reply by route generics it cannot know here; it is a plain reply.
      const plain = reply as unknown as { code(n: number): { send(body: unknown): void } };
      plain.code(400).send({ error: 'bad_request', message: error.message });
    },
  });
  const release = async () => {
    await Promise.resolve(pgl.release()).catch(() => {});
    await listener.close();
    await Promise.allSettled([apiPool.end(), ownerPool.end()]);
  };
  try {
    await pgl.getSchema();
    await app.register(websocket, { options: { maxPayload: config.maxBodyBytes } });
    installErrorHandler(app, logger);
    // First, so its response hook times every route registered after it.
    registerMetrics(app, {
      ownerPool,
      changes,
      workerStaleMs: config.rescueAfterMs,
      token: config.metricsToken,
    });
    app.addHook('preHandler', async (request, reply) => {
      const route = request.routeOptions.url;
      if (route === undefined || PUBLIC_ROUTES.has(route)) return;
      // Bodies nested thousands deep would exhaust the stack further on (GraphQL checks its own).
      if (route !== '/graphql' && request.body && valueNesting(request.body) > MAX_VALUE_NESTING)
        return reply.code(400).send({
          error: 'invalid_request',
          message: `the body nests objects or arrays more than ${MAX_VALUE_NESTING} deep`,
        });
      // websocket upgrades carry the token in their connection params, checked per subscription
      if (route === '/graphql' && request.headers.upgrade) return;
      try {
        const token = bearerToken(request.headers.authorization);
        identities.set(request, token ? await verifyToken(token, jwtSecret) : null);
      } catch (error) {
        if (!(error instanceof UnauthorizedError)) throw error;
        reply.code(401).header('www-authenticate', 'Bearer');
        // GraphQL clients expect GraphQL's error shape; REST clients get {error, message}.
        return route === '/graphql'
          ? reply.send({ errors: [{ message: error.message, extensions: error.extensions }] })
          : reply.send({ error: 'unauthorized', message: error.message });
      }
    });
    registerSseRoutes(app, {
      apiPool,
      changes,
      identityOf: (request) => identities.get(request) ?? null,
      heartbeatMs: config.sseHeartbeatMs,
      maxStreamsPerUser: config.sseMaxStreamsPerUser,
    });
    registerRestRoutes(app, {
      apiPool,
      identityOf: (request) => identities.get(request) ?? null,
      widgetCompletedTtlSeconds: config.widgetCompletedTtlSeconds,
      exportsDir: path.join(config.dataDir, 'exports'),
    });
    const serv = pgl.createServ(grafserv);
    await serv.addTo(app);
    registerHealth(app, { ownerPool, workerStaleMs: config.rescueAfterMs, logger });
    registerOpenApi(app, VERSION);
    await registerDashboard(app, { devTokens: !config.production, jwtSecret });
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
      changes,
      close: () => {
        closing ??= (async () => {
          try {
            await app.close();
          } finally {
            await release();
          }
        })();
        return closing;
      },
    };
  } catch (error) {
    await app.close().catch(() => {});
    await release();
    throw error;
  }
}
