import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { makeHandler } from 'graphql-ws/use/@fastify/websocket';
import type { Context } from 'graphql-ws';
import { makeGraphQLWSConfig, normalizeConnectionParams } from 'postgraphile/grafserv';
import type { GrafservBase } from 'postgraphile/grafserv';
import { UnauthorizedError } from '../errors.ts';
import { identify } from '../graphql/preset.ts';

/** graphql-transport-ws's close code for a connection refused at `connection_init`. */
export const WS_FORBIDDEN = 4403;
/**
 * The methods GraphQL answers over plain HTTP: POST (GET serves only the websocket upgrade, as
 * queries over GET are off).
 */
export const GRAPHQL_HTTP_METHODS = ['POST'] as const;
/** A websocket close reason is at most 123 bytes. */
const MAX_CLOSE_REASON_BYTES = 123;

export interface GraphqlRoutesOptions {
  /** Where jobdeck's routes live ('' at the root); grafserv's URLs carry it. */
  prefix: string;
  /** Verifies the bearer token of a websocket's `connection_init`; null: tokens are refused. */
  jwtSecret: string | null;
  /**
   * The application identifies websocket callers at the upgrade (jobdeck's `identify` option):
   * connection params carry no token to check.
   */
  identifiedAtUpgrade: boolean;
}

/**
 * The Fastify instance grafserv's `addTo` registers its routes on, adjusting them to the
 * GraphQL-over-HTTP and graphql-transport-ws documents:
 * - grafserv registers its routes at the full paths it also tells GraphiQL (`<prefix>/graphql`);
 *   Fastify adds jobdeck's prefix itself, so they are registered with it taken off;
 * - a request without `Accept`, or accepting any type through a wildcard (`*\/*`,
 *   `application/*`) without naming `application/graphql-response+json`, is answered
 *   `application/json` (the spec's SHOULD; grafserv would pick graphql-response+json);
 * - a 405 (grafserv's answer to GET without a websocket upgrade) carries `Allow`;
 * - a websocket whose `connection_init` carries a bad token is closed with 4403 Forbidden and the
 *   reason, instead of being acknowledged and then refused operation by operation.
 *
 * Grafserv's `addTo` only calls `route()`.
 */
export function graphqlRouteTarget(
  app: FastifyInstance,
  serv: GrafservBase,
  options: GraphqlRoutesOptions,
): FastifyInstance {
  const { prefix } = options;
  const graphqlPath = `${prefix}/graphql`;
  return {
    route: (route: RouteOptions) => {
      const isGraphql = route.url === graphqlPath;
      app.route({
        ...route,
        url: route.url.slice(prefix.length) || '/',
        ...(isGraphql
          ? {
              onRequest: preferPlainJson,
              onSend: async (_request, reply, payload) => {
                if (reply.statusCode === 405 && !reply.hasHeader('allow'))
                  reply.header('allow', GRAPHQL_HTTP_METHODS.join(', '));
                return payload;
              },
            }
          : {}),
        ...(isGraphql && route.wsHandler ? { wsHandler: makeWsHandler(serv, options) } : {}),
      });
    },
  } as unknown as FastifyInstance;
}

/** The Accept value grafserv negotiates by, per the GraphQL-over-HTTP spec's defaults. */
export function graphqlAccept(accept: string | undefined): string | undefined {
  if (accept === undefined || accept.trim() === '') return 'application/json';
  if (/application\/graphql-response\+json/i.test(accept)) return accept;
  if (/(^|,)\s*(\*\/\*|application\/\*)\s*(;|,|$)/i.test(accept)) return 'application/json';
  return accept;
}

async function preferPlainJson(request: FastifyRequest): Promise<void> {
  const accept = graphqlAccept(request.headers.accept);
  if (accept !== request.headers.accept) request.headers.accept = accept;
}

/** Grafserv's graphql-ws handler, with the token of `connection_init` checked first. */
function makeWsHandler(serv: GrafservBase, options: GraphqlRoutesOptions) {
  const config = makeGraphQLWSConfig(serv);
  const keepalive = serv.getPreset().grafserv?.websocketKeepalive;
  return makeHandler(
    {
      ...config,
      async onConnect(ctx: Context) {
        if (options.identifiedAtUpgrade) return true;
        const requestContext = {
          ws: { normalizedConnectionParams: normalizeConnectionParams(ctx.connectionParams) },
        } as unknown as Partial<Grafast.RequestContext>;
        try {
          await identify(requestContext, options.jwtSecret);
          return true;
        } catch (error) {
          if (!(error instanceof UnauthorizedError)) throw error;
          const socket = (ctx.extra as { socket: { close(code: number, reason: string): void } })
            .socket;
          socket.close(WS_FORBIDDEN, closeReason(`Forbidden: ${error.message}`));
          return false;
        }
      },
    },
    keepalive,
  );
}

/** Cuts a close reason to the 123 bytes a websocket close frame holds. */
function closeReason(text: string): string {
  let reason = text;
  while (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) reason = reason.slice(0, -1);
  return reason;
}
