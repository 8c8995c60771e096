import type { FastifyRequest } from 'fastify';
import { isLoopbackAddress } from '../util/addresses.ts';

/** Headers a reverse proxy adds: a request carrying one came from elsewhere through it. */
const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'] as const;

/**
 * The request came from this machine: its connection arrived on a loopback address from a
 * loopback address, and no proxy forwarded it (a proxy on the same machine connects over loopback
 * too, but says so in `Forwarded` / `X-Forwarded-For` / `X-Real-IP`). What the development
 * sign-in and a token-less `/metrics` answer to; read from the socket, never from Fastify's
 * `request.ip`, which an application's `trustProxy` lets headers set.
 */
export function isLocalRequest(request: FastifyRequest): boolean {
  const { localAddress, remoteAddress } = request.raw.socket;
  if (!localAddress || !remoteAddress) return false;
  if (!isLoopbackAddress(localAddress) || !isLoopbackAddress(remoteAddress)) return false;
  return FORWARDING_HEADERS.every((name) => request.headers[name] === undefined);
}
