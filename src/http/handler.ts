import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createJobdeckApp } from './app.ts';
import type { JobdeckFastifyOptions } from './plugin.ts';
import { isUnderPrefix } from './websocket.ts';

/** Options of {@link createJobdeckHandler}: the plugin's, and where jobdeck's routes go. */
export interface JobdeckHandlerOptions extends JobdeckFastifyOptions {
  /**
   * The path jobdeck is served under, e.g. `/jobs-api` (then GraphQL is `/jobs-api/graphql`, the
   * dashboard `/jobs-api/`); '' takes every path.
   */
  prefix: string;
}

/** jobdeck's HTTP API as plain Node handlers, for Express, Koa, node:http and the like. */
export interface JobdeckHandler {
  /** The prefix jobdeck's routes are under, normalised (no trailing slash). */
  readonly prefix: string;
  /**
   * Answers a request under the prefix and returns true; returns false (touching nothing) for any
   * other path, which the application then answers. Call it before any body-parsing middleware:
   * jobdeck reads request bodies itself.
   */
  handle(request: IncomingMessage, response: ServerResponse): boolean;
  /**
   * Takes a websocket upgrade under the prefix (GraphQL subscriptions) and returns true; false for
   * other paths. Wire it to the server's `upgrade` event.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Ends event streams and websockets and closes jobdeck's database connections. */
  close(): Promise<void>;
}

/** '' or `/segment[/segment…]`, with trailing slashes taken off. */
function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  if (trimmed !== '' && !/^(\/[^/?#\s]+)+$/.test(trimmed))
    throw new TypeError(
      `prefix must be '' or a path like '/jobs-api' (no query, fragment or empty segment), got ${JSON.stringify(prefix)}`,
    );
  return trimmed;
}

/**
 * jobdeck's whole HTTP API (what {@link jobdeckFastify} serves) behind plain Node handlers:
 *
 * ```ts
 * const jobdeck = await createJobdeckHandler({ prefix: '/jobs-api', connectionString, identify });
 * const server = http.createServer((req, res) => {
 *   if (!jobdeck.handle(req, res)) myApp(req, res);
 * });
 * server.on('upgrade', (req, socket, head) => {
 *   if (!jobdeck.handleUpgrade(req, socket, head)) socket.destroy();
 * });
 * ```
 *
 * With Express, `app.use((req, res, next) => jobdeck.handle(req, res) || next())` before its body
 * parsers (a middleware mounted at a path sees `req.url` without that path; jobdeck reads
 * `req.originalUrl` too). `identify` gets a Fastify request whose `raw` is the application's own
 * request object, with whatever its middleware put on it (a session, a user). Resolves once the
 * GraphQL schema is built.
 */
export async function createJobdeckHandler(
  options: JobdeckHandlerOptions,
): Promise<JobdeckHandler> {
  const prefix = normalizePrefix(options.prefix);
  let route: ((request: IncomingMessage, response: ServerResponse) => void) | null = null;
  // Never listens: it only carries the upgrade events handed over by handleUpgrade.
  const upgrades = createServer();
  const { app } = await createJobdeckApp({
    ...options,
    prefix,
    serverFactory: (handler) => {
      route = handler;
      return upgrades;
    },
  });
  const dispatch = route as unknown as (request: IncomingMessage, response: ServerResponse) => void;
  const urlOf = (request: IncomingMessage): string | undefined => {
    const original = (request as { originalUrl?: unknown }).originalUrl;
    return typeof original === 'string' ? original : request.url;
  };
  let closing: Promise<void> | null = null;
  return {
    prefix,
    handle(request, response) {
      const url = urlOf(request);
      if (closing || !isUnderPrefix(url, prefix)) return false;
      request.url = url!;
      // A body another middleware has read already would never arrive here: say so, do not hang.
      if ((request as { _body?: unknown })._body === true) {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({
            error: 'internal',
            message:
              "the request body was read before jobdeck's handler: call it before body parsers",
          }),
        );
        return true;
      }
      dispatch(request, response);
      return true;
    },
    handleUpgrade(request, socket, head) {
      const url = urlOf(request);
      if (closing || !isUnderPrefix(url, prefix)) return false;
      request.url = url!;
      upgrades.emit('upgrade', request, socket, head);
      return true;
    },
    close() {
      closing ??= app.close();
      return closing;
    },
  };
}
