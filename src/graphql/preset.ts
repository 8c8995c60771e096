import type pg from 'pg';
import { makePgService } from 'postgraphile/adaptors/pg';
import { withPgClientFromPgService } from 'postgraphile/@dataplan/pg';
import { getOperationAST } from 'postgraphile/graphql';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';
import { PostGraphileConnectionFilterPreset } from 'postgraphile-plugin-connection-filter';
import { PgAggregatesPreset } from '@graphile/pg-aggregates';
import type { Config } from '../config.ts';
import type { JobChangeHub } from '../live/job-changes.ts';
import type { BatchChangeHub } from '../live/batch-changes.ts';
import { UnauthorizedError } from '../errors.ts';
import { bearerToken, verifyToken } from '../auth/tokens.ts';
import { pgSettingsFor, type Identity } from '../auth/identity.ts';
import type { DownloadLinks } from '../auth/download-links.ts';
import { makeDownloadLinksPlugin } from './download-links.ts';
import { maskError } from './errors.ts';
import { makeQueryLimitsPlugin } from './limits.ts';
import {
  JobdeckExposurePlugin,
  JobdeckPartitionIndexesPlugin,
  JobdeckNamingPlugin,
} from './schema-plugins.ts';
import { JobSubscriptionsPlugin } from './subscriptions.ts';
import { BatchSubscriptionsPlugin } from './batches.ts';
import { makePausesPlugin } from './pauses.ts';
import { makeOperationsPlugin } from './operations.ts';
import type { Kysely } from 'kysely';
import type { Database } from '../db/types.ts';

export interface GraphqlPresetOptions {
  config: Config;
  /** Connections that start as role jobdeck_api (see createPool's `role`). */
  apiPool: pg.Pool;
  /**
   * Where query operations run (the replica's API pool with JOBDECK_REPLICA_URL); mutations and
   * subscriptions run on `apiPool`. Unset or the same pool: everything on `apiPool`.
   */
  readPool?: pg.Pool | undefined;
  /** Verifies bearer tokens; null when callers are identified otherwise (`knownIdentity`). */
  jwtSecret: string | null;
  changes: JobChangeHub;
  /** Where `batchUpdated` subscriptions get batch changes from. */
  batchChanges: BatchChangeHub;
  /** Signs exports' download links in `Job.result` for the caller; none: results as stored. */
  downloadLinks?: DownloadLinks | undefined;
  /**
   * The URL path jobdeck is served under ('' at the root): GraphiQL fetches
   * `<basePath>/graphql` and its files from `<basePath>/ruru-static/`.
   */
  basePath?: string;
  /**
   * The caller of a request when the server has identified it already (it answers bad tokens
   * with 401 before GraphQL runs); undefined means "verify the token here" (websockets).
   */
  knownIdentity?: (requestContext: Partial<Grafast.RequestContext>) => Identity | null | undefined;
  /**
   * The owner's connection, for the operators' pause mutations (src/graphql/pauses.ts) and
   * read-only queues, workers and cron schedules (src/graphql/operations.ts); without it GraphQL
   * has none of them.
   */
  ownerDb?: Kysely<Database> | undefined;
}

/** The request's `Authorization`: the HTTP header, or the websocket's connection params. */
function authorizationOf(requestContext: Partial<Grafast.RequestContext>): unknown {
  // `ws` is set by grafserv for graphql-ws requests (its type lives in grafserv's adaptor).
  const ws = (requestContext as { ws?: { normalizedConnectionParams?: unknown } }).ws;
  if (ws) {
    const params = ws.normalizedConnectionParams as Record<string, unknown> | undefined;
    return params?.['authorization'] ?? params?.['Authorization'];
  }
  return requestContext.http?.getHeader('authorization');
}

/**
 * The `withPgClient` of query operations when they read elsewhere than mutations: a pg service
 * of its own on `readPool`, never listed in `pgServices` (the schema is built, and subscriptions
 * LISTEN, from the primary's), so only the operations handed this function run there.
 */
function replicaWithPgClient(
  options: GraphqlPresetOptions,
): Grafast.Context['withPgClient'] | null {
  if (!options.readPool || options.readPool === options.apiPool) return null;
  const service = makePgService({ pool: options.readPool, schemas: ['jobdeck'], pubsub: false });
  return withPgClientFromPgService.bind(null, service) as Grafast.Context['withPgClient'];
}

/** 'query', 'mutation' or 'subscription': the operation a request runs (null if none matches). */
function operationTypeOf(args: Grafast.ExecutionArgs): string | null {
  return getOperationAST(args.document, args.operationName)?.operation ?? null;
}

/** Verifies the caller once per request (HTTP) or per subscription (websocket). */
export async function identify(
  requestContext: Partial<Grafast.RequestContext>,
  secret: string | null,
): Promise<Identity | null> {
  const token = bearerToken(authorizationOf(requestContext));
  if (!token) return null;
  if (!secret) throw new UnauthorizedError('bearer tokens are not accepted here');
  return verifyToken(token, secret);
}

/**
 * PostGraphile over the `jobdeck` schema only (Graphile Worker's schema and jobdeck_private are
 * never exposed), with filters, aggregates, live subscriptions, JWT → row-level security, query
 * limits and error masking.
 */
export function makeGraphqlPreset(options: GraphqlPresetOptions): GraphileConfig.Preset {
  const { config } = options;
  const base = options.basePath ?? '';
  const readsWithPgClient = replicaWithPgClient(options);
  return {
    extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset, PgAggregatesPreset],
    disablePlugins: ['NodePlugin'],
    plugins: [
      JobdeckNamingPlugin,
      JobdeckExposurePlugin,
      JobdeckPartitionIndexesPlugin,
      JobSubscriptionsPlugin,
      BatchSubscriptionsPlugin,
      ...(options.downloadLinks ? [makeDownloadLinksPlugin(options.downloadLinks)] : []),
      ...(options.ownerDb
        ? [
            makePausesPlugin({ ownerDb: options.ownerDb, operatorOrgs: config.operatorOrgs }),
            makeOperationsPlugin({
              ownerDb: options.ownerDb,
              operatorOrgs: config.operatorOrgs,
              crontabFile: config.crontabFile,
            }),
          ]
        : []),
      makeQueryLimitsPlugin({
        maxDepth: config.graphqlMaxDepth,
        maxFields: config.graphqlMaxFields,
        introspection: config.graphqlIntrospection,
      }),
    ],
    pgServices: [makePgService({ pool: options.apiPool, schemas: ['jobdeck'] })],
    gather: { pgStrictFunctions: true },
    schema: {
      defaultBehavior: '-insert -update -delete',
      pgForbidSetofFunctionsToReturnNull: true,
      connectionFilterAllowNullInput: false,
      connectionFilterAllowEmptyObjectInput: false,
      exportSchemaSDLPath: undefined,
    },
    grafast: {
      explain: false,
      async context(requestContext, args) {
        const known = options.knownIdentity?.(requestContext);
        const identity =
          known !== undefined ? known : await identify(requestContext, options.jwtSecret);
        return {
          pgSettings: pgSettingsFor(identity),
          jobdeckIdentity: identity,
          jobdeckChanges: options.changes,
          jobdeckBatchChanges: options.batchChanges,
          // Replaces the primary's withPgClient PgContextPlugin has put there: this callback's
          // result is assigned over the context after every middleware has run.
          ...(readsWithPgClient && operationTypeOf(args) === 'query'
            ? { withPgClient: readsWithPgClient }
            : {}),
        };
      },
    },
    grafserv: {
      graphqlPath: `${base}/graphql`,
      graphiql: config.graphiql,
      graphiqlPath: `${base}/graphiql`,
      graphiqlStaticPath: `${base}/ruru-static/`,
      graphiqlOnGraphQLGET: false,
      websockets: true,
      maxRequestLength: config.maxBodyBytes,
      maskError,
    },
  };
}
