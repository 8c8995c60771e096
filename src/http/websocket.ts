import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';

type UpgradeListener = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Whether a request path (query string and all) lies at or below `prefix`. */
export function isUnderPrefix(url: string | undefined, prefix: string): boolean {
  if (url === undefined) return false;
  if (prefix === '') return true;
  return url === prefix || url.startsWith(`${prefix}/`) || url.startsWith(`${prefix}?`);
}

/**
 * Makes websocket routes work in jobdeck's (encapsulated) part of an application.
 *
 * When the application registered `@fastify/websocket` itself (before jobdeck), its instance
 * serves jobdeck's websocket route as well: registering it twice would route every upgrade twice.
 * Otherwise jobdeck registers it in its own context, where its hooks touch only jobdeck's routes,
 * and narrows its `upgrade` listener on the shared server to upgrades under jobdeck's prefix, so
 * the application's own upgrades (another websocket library, say) are left to it. An upgrade for
 * another path that nobody else listens for is refused, as Node does without listeners. Under
 * jobdeck's prefix, an upgrade for a path that has no websocket (`paths`) is answered 404, not
 * accepted and then dropped; a path ending in `/*` stands for any one segment below it.
 */
export async function registerWebsocket(
  app: FastifyInstance,
  options: { prefix: string; maxPayload: number; paths: readonly string[] },
): Promise<void> {
  if (app.hasDecorator('websocketServer')) return;
  const server = app.server;
  const before = new Set(server.listeners('upgrade'));
  await app.register(websocket, { options: { maxPayload: options.maxPayload } });
  const added = server.listeners('upgrade').filter((listener) => !before.has(listener));
  if (added.length !== 1) return;
  const route = added[0] as UpgradeListener;
  const paths = new Set(options.paths);
  // `/ws/jobs/*`: any one path segment below `/ws/jobs`.
  const parents = new Set(
    options.paths.filter((p) => p.endsWith('/*')).map((p) => p.slice(0, -'/*'.length)),
  );
  const served = (pathname: string) => {
    if (paths.has(pathname)) return true;
    const slash = pathname.lastIndexOf('/');
    return slash > 0 && slash < pathname.length - 1 && parents.has(pathname.slice(0, slash));
  };
  const narrowed: UpgradeListener = (request, socket, head) => {
    if (isUnderPrefix(request.url, options.prefix)) {
      const pathname = (request.url ?? '/').split('?')[0]!;
      if (served(pathname)) return route(request, socket, head);
      return refuseUpgrade(socket, 404, `no websocket at ${pathname}`);
    }
    if (server.listenerCount('upgrade') === 1) socket.destroy();
  };
  server.off('upgrade', route);
  server.on('upgrade', narrowed);
  app.addHook('onClose', async () => {
    server.off('upgrade', narrowed);
  });
}

/** Answers an upgrade request with a plain HTTP error and closes the connection. */
function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ error: 'not_found', message });
  socket.end(
    `HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : 'Error'}\r\n` +
      'Connection: close\r\nContent-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
