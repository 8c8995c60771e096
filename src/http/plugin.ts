import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { postgraphile } from 'postgraphile';
import { grafserv } from 'postgraphile/grafserv/fastify/v5';
import { resolveConfig, type Config } from '../config.ts';
import { openConnections, type Connections } from '../db/connections.ts';
import { createDb } from '../db/pool.ts';
import { loadJwtSecret } from '../auth/secrets.ts';
import { makeGraphqlPreset } from '../graphql/preset.ts';
import { loadDatabaseSecret, loadJobChannels } from '../live/channels.ts';
import { DownloadLinks } from '../auth/download-links.ts';
import { JobChangeHub } from '../live/job-changes.ts';
import type { Logger } from '../logger.ts';
import { VERSION } from '../version.ts';
import { installCallerHook } from './caller.ts';
import { registerDashboard } from './dashboard.ts';
import { GRAPHQL_HTTP_METHODS, graphqlRouteTarget } from './graphql-routes.ts';
import { registerHealth } from './health.ts';
import { JOB_SOCKET_PATH, registerJobSocket } from './job-socket.ts';
import type { IdentifyRequest } from './identify.ts';
import { trackRouteMethods } from './methods.ts';
import { registerMetrics } from './metrics.ts';
import { registerOpenApi } from './openapi.ts';
import { installErrorHandler } from './rest/errors.ts';
import { registerRestRoutes } from './rest/routes.ts';
import { registerSseRoutes } from './sse.ts';
import { registerBatchRoutes } from './rest/batches.ts';
import { BatchChangeHub } from '../live/batch-changes.ts';
import { registerWebsocket } from './websocket.ts';

/**
 * Options of {@link jobdeckFastify}. Fastify's own `prefix` (given to `register` next to these)
 * says where jobdeck's routes go.
 */
export interface JobdeckFastifyOptions {
  /** The database jobdeck's tables live in (migrated with `jobdeck migrate`). */
  connectionString: string;
  /**
   * Settings, over jobdeck's defaults (see `resolveConfig`: no environment variable is read; pass
   * `loadConfig()` to use them). The API reads `apiDatabaseUrl`, `databaseListenUrl`, `replicaUrl`, `production`, `graphiql`, `jwtSecret` and
   * `dataDir` (tokens without `identify`; exports are read from `<dataDir>/exports`),
   * `maxBodyBytes`, `graphqlMaxDepth`, `graphqlMaxFields`, `widgetCompletedTtlSeconds`,
   * `sseHeartbeatMs`, `sseMaxStreamsPerUser`, `metricsToken`, `metricsOrgLabel` and
   * `rescueAfterMs`.
   */
  config?: Partial<Config> | undefined;
  /**
   * Identifies callers by the application's own authentication instead of jobdeck bearer tokens:
   * for every HTTP request (GraphQL, REST, event streams, `/session`) and every GraphQL websocket
   * (at its upgrade). Without it, `Authorization: Bearer <token>` is read as by `jobdeck serve`.
   */
  identify?: IdentifyRequest | undefined;
  /**
   * Serve `POST /dev/token`, which mints a token for whoever asks (development sign-in for the
   * dashboard). Default false; ignored with `identify` or in production, and answered only to
   * requests from this machine (loopback, not forwarded by a proxy).
   */
  devTokens?: boolean | undefined;
  /** Where jobdeck writes warnings and errors (a request's failure, the database away…). */
  logger?: Logger | undefined;
}

/** What a mounted jobdeck exposes to the code that mounted it (startServer's `changes`). */
export interface JobdeckMount {
  /** Where jobdeck's routes live ('' at the root). */
  prefix: string;
  /** The LISTEN/NOTIFY fan-out behind GraphQL subscriptions and event streams. */
  changes: JobChangeHub;
}

/**
 * The plugin, telling `onMounted` what it built once its routes are in place (for startServer and
 * createJobdeckHandler; applications use {@link jobdeckFastify}).
 */
export function makeJobdeckPlugin(
  onMounted?: (mount: JobdeckMount) => void,
  /** The process's connections (`jobdeck start`); without them the plugin opens and closes its own. */
  shared?: Connections,
): FastifyPluginAsync<JobdeckFastifyOptions> {
  const plugin: FastifyPluginAsync<JobdeckFastifyOptions> = async (app, options) => {
    const config = resolveConfig(options.config);
    const { logger, identify } = options;
    const prefix = app.prefix.replace(/\/+$/, '');
    const jwtSecret = identify ? null : await loadJwtSecret(config);
    // Sized in src/db/connections.ts. Cluster-wide figures for /metrics and /readyz need the
    // owner's rights (the main pool), not a user's.
    const connections =
      shared ??
      openConnections(
        { server: true },
        {
          connectionString: options.connectionString,
          apiConnectionString: config.apiDatabaseUrl,
          listenConnectionString: config.databaseListenUrl,
          replicaConnectionString: config.replicaUrl,
          logger,
        },
      );
    const { api: apiPool, main: ownerPool, listener } = connections;
    // GraphQL queries and REST GET routes read here: the replica's API pool when
    // JOBDECK_REPLICA_URL is set (docs/connections.md, "Read replicas").
    const readPool = connections.apiReads;
    let pgl: ReturnType<typeof postgraphile> | null = null;
    const release = async () => {
      if (pgl) await Promise.resolve(pgl.release()).catch(() => {});
      if (!shared) await connections.close();
    };
    let changes: JobChangeHub;
    try {
      // The channels' names need the database's secret, which only the owner's pool may read.
      const channels = await loadJobChannels(ownerPool);
      changes = new JobChangeHub(listener, channels, createDb(ownerPool));
      // Download links are keyed by the token secret; with the application's own authentication
      // there is none, so by the database's secret (readable by the owner only), which every
      // server on the database shares without configuration.
      const links = new DownloadLinks(
        jwtSecret ?? (await loadDatabaseSecret(ownerPool)),
        config.downloadLinkTtlSeconds,
      );
      // Every route of jobdeck's own takes bodies up to its limit; the application's keep theirs.
      app.addHook('onRoute', (route) => {
        route.bodyLimit ??= config.maxBodyBytes;
      });
      const methods = trackRouteMethods(app, prefix, { '/graphql': GRAPHQL_HTTP_METHODS });
      await registerWebsocket(app, {
        prefix,
        maxPayload: config.maxBodyBytes,
        paths: [`${prefix}/graphql`, `${prefix}${JOB_SOCKET_PATH}/*`],
      });
      installErrorHandler(app, logger);
      // First, so its response hook times every route registered after it.
      registerMetrics(app, {
        ownerPool,
        changes,
        workerStaleMs: config.rescueAfterMs,
        token: config.metricsToken,
        orgLabel: config.metricsOrgLabel,
      });
      const callers = installCallerHook(app, { prefix, identify, jwtSecret, logger });
      pgl = postgraphile(
        makeGraphqlPreset({
          config,
          apiPool,
          readPool,
          jwtSecret,
          changes,
          batchChanges: new BatchChangeHub(listener, channels, createDb(ownerPool)),
          downloadLinks: links,
          basePath: prefix,
          knownIdentity: callers.knownIdentity,
          ownerDb: createDb(ownerPool),
        }),
      );
      await pgl.getSchema();
      registerSseRoutes(app, {
        apiPool,
        links,
        changes,
        identityOf: callers.signedInOf,
        heartbeatMs: config.sseHeartbeatMs,
        maxStreamsPerUser: config.sseMaxStreamsPerUser,
      });
      registerBatchRoutes(app, {
        apiPool,
        readPool,
        identityOf: callers.signedInOf,
        listener,
        channels,
        heartbeatMs: config.sseHeartbeatMs,
      });
      registerJobSocket(app, {
        apiPool,
        links,
        changes,
        identityOf: callers.identityOf,
        jwtSecret,
        heartbeatMs: config.sseHeartbeatMs,
        maxPerUser: config.sseMaxStreamsPerUser,
      });
      registerRestRoutes(app, {
        apiPool,
        readPool,
        links,
        identityOf: callers.signedInOf,
        widgetCompletedTtlSeconds: config.widgetCompletedTtlSeconds,
        exportsDir: path.join(config.dataDir, 'exports'),
        cronSecret: config.cronSecret,
        ownerDb: createDb(ownerPool),
        workerStaleMs: config.rescueAfterMs,
        operatorOrgs: config.operatorOrgs,
      });
      const serv = pgl.createServ(grafserv);
      await serv.addTo(
        graphqlRouteTarget(app, serv, { prefix, jwtSecret, identifiedAtUpgrade: !!identify }),
      );
      registerHealth(app, { ownerPool, workerStaleMs: config.rescueAfterMs, logger });
      registerOpenApi(app, VERSION, prefix);
      await registerDashboard(app, {
        prefix,
        auth: identify ? 'application' : 'token',
        callerOf: callers.callerOf,
        devTokens: Boolean(options.devTokens) && !identify && !config.production,
        jwtSecret,
      });
      methods.answerOtherMethods();
    } catch (error) {
      await release();
      throw error;
    }
    // After the server has stopped taking requests, so those in flight finish with their pools.
    app.addHook('onClose', release);
    onMounted?.({ prefix, changes });
  };
  // Shown by Fastify's printPlugins() and in its errors.
  Object.assign(plugin, { [Symbol.for('fastify.display-name')]: 'jobdeck' });
  return plugin;
}

/**
 * jobdeck's HTTP API as a Fastify 5 plugin, for an application to serve from its own server:
 *
 * ```ts
 * await app.register(jobdeckFastify, { prefix: '/jobs-api', connectionString, identify });
 * ```
 *
 * Under the prefix: GraphQL at `/graphql` (graphql-ws subscriptions on the same path), GraphiQL at
 * `/graphiql` (when `config.graphiql` is on), the REST routes and event streams, `/metrics`, `/healthz`,
 * `/readyz`, `/openapi.json` and the dashboard at `/`. Everything jobdeck adds (its error and
 * not-found handlers, hooks, body limits, `@fastify/static`, `@fastify/websocket` when the
 * application has not registered it) stays in its own encapsulated context: the application's
 * other routes are untouched. An application that uses `@fastify/websocket` itself registers it
 * before jobdeck. Registration resolves once the GraphQL schema is built (the database must be
 * reachable); closing the application closes jobdeck's connections.
 */
export const jobdeckFastify: FastifyPluginAsync<JobdeckFastifyOptions> = makeJobdeckPlugin();
