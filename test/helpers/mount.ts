import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { waitFor } from './db.ts';
import { openStreamWith } from './sse.ts';

/**
 * Clients for an API mounted in an application, identified the application's way (a cookie, a
 * header) instead of a bearer token: every request and websocket upgrade carries `headers`.
 */

/** POSTs a GraphQL operation to `url` (the mounted `/graphql`). */
export async function graphqlAt<T = Record<string, unknown>>(
  url: string,
  query: string,
  options: { headers?: Record<string, string>; variables?: Record<string, unknown> } = {},
): Promise<{ status: number; data?: T | null; errors?: { message: string }[] }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    body: JSON.stringify({ query, variables: options.variables ?? {} }),
  });
  return { status: response.status, ...((await response.json()) as object) };
}

/** A graphql-ws subscription whose upgrade request carries `headers`. */
export interface HeaderSubscription<T> {
  events: T[];
  errors: unknown[];
  close(): Promise<void>;
}

const clients = new Set<Client>();

/** Subscribes over websockets at `url` (ws://…/graphql), sending `headers` with the upgrade. */
export function subscribeWithHeaders<T = Record<string, unknown>>(
  url: string,
  query: string,
  options: { headers?: Record<string, string>; variables?: Record<string, unknown> } = {},
): HeaderSubscription<T> {
  const headers = options.headers ?? {};
  class WebSocketWithHeaders extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, { headers });
    }
  }
  const client = createClient({
    url,
    webSocketImpl: WebSocketWithHeaders,
    retryAttempts: 0,
    lazy: true,
  });
  clients.add(client);
  const events: T[] = [];
  const errors: unknown[] = [];
  const stop = client.subscribe<T>(
    { query, variables: options.variables ?? {} },
    {
      next: (value) => {
        if (value.errors) errors.push(...value.errors);
        if (value.data) events.push(value.data as T);
      },
      error: (error) => errors.push(error),
      complete: () => {},
    },
  );
  return {
    events,
    errors,
    async close() {
      stop();
      clients.delete(client);
      await client.dispose();
    },
  };
}

/** Closes every subscription a test left open. */
export async function closeHeaderSubscriptions(): Promise<void> {
  const left = [...clients];
  clients.clear();
  await Promise.all(left.map((client) => client.dispose()));
}

/** The HTTP status a websocket upgrade at `url` is answered with (101 when it is taken). */
export function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, 'graphql-transport-ws', { headers });
    socket.on('open', () => {
      socket.close();
      resolve(101);
    });
    socket.on('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.on('error', reject);
  });
}

/** An open server-sent event stream: the events read so far, until `close()`. */
export interface EventStream {
  status: number;
  events: { event: string; data: Record<string, unknown> }[];
  /** Waits for an event that matches, with a deadline. */
  next(match: (event: { event: string; data: Record<string, unknown> }) => boolean): Promise<void>;
  close(): void;
}

/** Opens a server-sent event stream at `url` with `headers`. */
export async function openEventStream(
  url: string,
  headers: Record<string, string>,
): Promise<EventStream> {
  const stream = await openStreamWith(url, headers);
  return {
    status: stream.response.status,
    events: stream.events,
    next: (match) =>
      waitFor(() => stream.events.some(match), { what: 'an event stream event' }).then(() => {}),
    close: () => void stream.close(),
  };
}
