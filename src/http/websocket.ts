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
 * another path that nobody else listens for is refused, as Node does without listeners.
 */
export async function registerWebsocket(
  app: FastifyInstance,
  options: { prefix: string; maxPayload: number },
): Promise<void> {
  if (app.hasDecorator('websocketServer')) return;
  const server = app.server;
  const before = new Set(server.listeners('upgrade'));
  await app.register(websocket, { options: { maxPayload: options.maxPayload } });
  const added = server.listeners('upgrade').filter((listener) => !before.has(listener));
  if (options.prefix === '' || added.length !== 1) return;
  const route = added[0] as UpgradeListener;
  const narrowed: UpgradeListener = (request, socket, head) => {
    if (isUnderPrefix(request.url, options.prefix)) return route(request, socket, head);
    if (server.listenerCount('upgrade') === 1) socket.destroy();
  };
  server.off('upgrade', route);
  server.on('upgrade', narrowed);
  app.addHook('onClose', async () => {
    server.off('upgrade', narrowed);
  });
}
