import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';

/** One request a {@link startReceiver} got. */
export interface Hit {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A real HTTP server on `host` that records every request it gets. */
export interface Receiver {
  /** `http://host:port` (IPv6 in brackets). */
  origin: string;
  port: number;
  hits: Hit[];
  close(): Promise<void>;
}

/**
 * Starts an HTTP server that records each request and answers with `answer` (200 by default):
 * the webhook targets of the security tests, which assert it got nothing.
 */
export async function startReceiver(
  host: string,
  answer: (hit: Hit, response: ServerResponse) => void = (_hit, response) =>
    response.writeHead(200).end(),
): Promise<Receiver> {
  const hits: Hit[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const hit = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body,
      };
      hits.push(hit);
      answer(hit, response);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    hits,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * An IPv4 address of this machine that is not loopback (what another machine would connect to),
 * or undefined on a machine with none.
 */
export function nonLoopbackAddress(): string | undefined {
  for (const addresses of Object.values(os.networkInterfaces()))
    for (const address of addresses ?? [])
      if (address.family === 'IPv4' && !address.internal) return address.address;
  return undefined;
}
