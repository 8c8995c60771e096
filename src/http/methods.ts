import type { FastifyInstance, HTTPMethods } from 'fastify';

/** Methods answered 405 on a path that serves others (OPTIONS is left to CORS plugins). */
const CHECKED_METHODS: readonly HTTPMethods[] = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT'];

/** What {@link trackRouteMethods} returns. */
export interface RouteMethods {
  /**
   * Registers, for each path seen so far, a route answering the methods it does not serve with
   * 405, `Allow` and `{error, message}`, at once (before the body is read or the caller checked).
   * Call once, after jobdeck's routes are registered.
   */
  answerOtherMethods(): void;
}

/**
 * Records the methods of each route registered on `app` (jobdeck's context) from now on, so that a
 * method a path does not serve is answered 405 with `Allow` rather than 404 (RFC 9110 §15.5.6).
 * Wildcard paths (the dashboard's files) are left out: there an unknown path is a 404.
 * `overrides`: the methods a path answers over plain HTTP when its routes say more (GraphQL's GET
 * serves only websocket upgrades).
 */
export function trackRouteMethods(
  app: FastifyInstance,
  prefix: string,
  overrides: Record<string, readonly string[]> = {},
): RouteMethods {
  const byPath = new Map<string, Set<string>>();
  let done = false;
  app.addHook('onRoute', (route) => {
    if (done) return;
    // Relative to jobdeck's prefix, whichever child context registered the route.
    const path = route.url.slice(prefix.length) || '/';
    if (path.includes('*')) return;
    const methods = byPath.get(path) ?? new Set<string>();
    for (const method of [route.method].flat()) methods.add(method.toUpperCase());
    if (methods.has('GET') && route.exposeHeadRoute !== false) methods.add('HEAD');
    byPath.set(path, methods);
  });
  return {
    answerOtherMethods() {
      done = true;
      for (const [path, served] of byPath) {
        const allow = [...(overrides[path] ?? served)].sort().join(', ');
        const others = CHECKED_METHODS.filter((method) => !served.has(method));
        if (others.length === 0) continue;
        app.route({
          method: others,
          url: path,
          exposeHeadRoute: false,
          onRequest: async (request, reply) =>
            reply
              .code(405)
              .header('allow', allow)
              .send({
                error: 'method_not_allowed',
                message: `${request.url.split('?')[0]} answers ${allow}, not ${request.method}`,
              }),
          handler: async () => undefined,
        });
      }
    },
  };
}
