import type { FastifyInstance, FastifyRequest } from 'fastify';
import { UnauthorizedError } from '../errors.ts';
import { bearerToken, verifyToken } from '../auth/tokens.ts';
import { type Identity } from '../auth/identity.ts';
import { scopeRefusal } from '../auth/scoped-tokens.ts';
import { MAX_VALUE_NESTING, valueNesting } from '../graphql/limits.ts';
import type { Logger } from '../logger.ts';
import { identifyCaller, type IdentifyRequest } from './identify.ts';
import { HttpError } from './rest/errors.ts';

/** Routes (below jobdeck's prefix) that need no caller and get none checked. */
const PUBLIC_ROUTES = new Set([
  '/healthz',
  '/readyz',
  '/metrics',
  '/openapi.json',
  '/graphiql',
  '/ruru-static/*',
  // the dashboard's files; its data comes through GraphQL as the signed-in user
  '/',
  '/index.html',
  '/*',
  '/vendor/:file',
  '/dev/token',
  // identifies the caller itself, and answers a refused one too (the dashboard shows why)
  '/session',
  // a scheduler's call, with the cron secret as its bearer token (src/http/rest/novus.ts)
  '/api/v1/cron/jobs',
]);

/**
 * Routes that accept a signed link in place of a caller: with a `sig` in the query string the
 * route checks the link itself (src/auth/download-links.ts), so a browser's plain `<a href>` works
 * whatever the application's authentication would say about a request without credentials.
 */
const SIGNED_LINK_ROUTES = new Set(['/api/v1/exports/:file']);

/** Sent with every answer to a caller without identity: the body alone cannot say it. */
export const ANONYMOUS_HEADER = 'x-jobdeck-caller';
const ANONYMOUS_HINT = (identify: boolean) =>
  identify
    ? 'anonymous: sign in to the application to see your jobs'
    : 'anonymous: send Authorization: Bearer <token> to see your jobs';

/** How {@link installCallerHook} identifies callers. */
export interface CallerOptions {
  /** Where jobdeck's routes live ('' at the root): route URLs carry it. */
  prefix: string;
  /** The application's own authentication; when given, bearer tokens are not read. */
  identify?: IdentifyRequest | undefined;
  /** Verifies bearer tokens when there is no `identify`. */
  jwtSecret: string | null;
  logger?: Logger | undefined;
}

/** How the plugin's parts learn who is calling. */
export interface Callers {
  /** The verified caller of an HTTP request (null: anonymous). */
  identityOf(request: FastifyRequest): Identity | null;
  /**
   * For routes that all need a caller (REST, event streams): the caller, or with `identify` a 401
   * telling an anonymous caller to sign in to the application (there is no token to send); with
   * tokens, null as {@link identityOf} (the routes' own 401 asks for one).
   */
  signedInOf(request: FastifyRequest): Identity | null;
  /**
   * Identifies a request's caller now (for routes the hook leaves alone).
   *
   * @throws UnauthorizedError saying why the caller is refused.
   */
  callerOf(request: FastifyRequest): Promise<Identity | null>;
  /**
   * The caller of a GraphQL request when known already: every HTTP request, and with `identify`
   * every websocket (identified at its upgrade); undefined = read the websocket's token.
   */
  knownIdentity(requestContext: Partial<Grafast.RequestContext>): Identity | null | undefined;
}

/**
 * Identifies the caller of each request before its handler runs: with the application's
 * `identify`, or from `Authorization: Bearer <token>`. A refused caller gets a plain 401 with the
 * reason (GraphQL's error shape on /graphql), so no handler runs for them. Websocket upgrades are
 * identified here with `identify`; with tokens they carry theirs in the connection params instead,
 * checked per subscription.
 */
export function installCallerHook(app: FastifyInstance, options: CallerOptions): Callers {
  const { prefix, identify, jwtSecret } = options;
  // Keyed by Fastify's request: graphql-ws hands the upgrade's request to GraphQL's context too.
  const identities = new WeakMap<object, Identity | null>();
  app.addHook('preHandler', async (request, reply) => {
    const url = request.routeOptions.url;
    if (url === undefined) return;
    const route = url.slice(prefix.length) || '/';
    if (PUBLIC_ROUTES.has(route)) return;
    if (
      SIGNED_LINK_ROUTES.has(route) &&
      (request.query as Record<string, unknown>)?.['sig'] !== undefined
    )
      return;
    // Bodies nested thousands deep would exhaust the stack further on (GraphQL checks its own).
    if (route !== '/graphql' && request.body && valueNesting(request.body) > MAX_VALUE_NESTING)
      return reply.code(400).send({
        error: 'invalid_request',
        message: `the body nests objects or arrays more than ${MAX_VALUE_NESTING} deep`,
      });
    if (route === '/graphql' && request.headers.upgrade && !identify) return;
    try {
      const caller = await callerOf(request);
      // A token scoped to one job or batch works on that one's routes only (docs/security.md).
      const refusal = caller && scopeRefusal(caller, route, request.params);
      if (refusal)
        return reply
          .code(403)
          .send(
            route === '/graphql'
              ? { errors: [{ message: refusal }] }
              : { error: 'forbidden', message: refusal },
          );
      identities.set(request, caller);
      // An anonymous caller sees no jobs and may do nothing; say so, or an empty list looks like
      // "you have no jobs" (the body keeps each contract's shape).
      if (!caller) reply.header(ANONYMOUS_HEADER, ANONYMOUS_HINT(!!identify));
    } catch (error) {
      if (!(error instanceof UnauthorizedError)) throw error;
      if (identify) options.logger?.debug(`${request.method} ${request.url}: ${error.message}`);
      reply.code(401);
      if (!identify) reply.header('www-authenticate', 'Bearer');
      // GraphQL clients expect GraphQL's error shape; REST clients get {error, message}.
      return route === '/graphql' && !request.headers.upgrade
        ? reply.send({ errors: [{ message: error.message, extensions: error.extensions }] })
        : reply.send({ error: 'unauthorized', message: error.message });
    }
  });

  const callerOf = async (request: FastifyRequest): Promise<Identity | null> => {
    if (identify) return identifyCaller(identify, request);
    const token = bearerToken(request.headers.authorization);
    if (!token) return null;
    if (!jwtSecret) throw new UnauthorizedError('bearer tokens are not accepted here');
    // Scoped tokens pass here; the hook above holds them to their job's or batch's routes.
    return verifyToken(token, jwtSecret, { allowScoped: true });
  };

  return {
    identityOf: (request) => identities.get(request) ?? null,
    callerOf,
    signedInOf(request) {
      const identity = identities.get(request) ?? null;
      if (!identity && identify)
        throw new HttpError(401, 'unauthorized', 'sign in to the application first');
      return identity;
    },
    knownIdentity(requestContext) {
      const context = requestContext as {
        fastifyv5?: { request?: object };
        ws?: { request?: object };
      };
      const request = context.fastifyv5?.request ?? context.ws?.request;
      if (request && identities.has(request)) return identities.get(request)!;
      // A websocket whose upgrade was identified by the application has no token to read.
      return context.ws && identify ? null : undefined;
    },
  };
}
