import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { signToken } from '../../src/auth/tokens.ts';
import { type Permission, type Role } from '../../src/auth/identity.ts';
import { startServer, type JobdeckServer } from '../../src/http/server.ts';
import type { Config } from '../../src/config.ts';
import { waitFor, type TestDatabase } from './db.ts';
import { testConfig } from './worker.ts';

/** The secret test servers sign and verify tokens with. */
export const TEST_JWT_SECRET = 'test-secret-that-is-at-least-32-characters-long';

const servers = new Set<JobdeckServer>();

/**
 * Starts the HTTP server on a free port over the test database, on 127.0.0.1 with the development
 * sign-in asked for (the dashboard tests sign in through it); stopServers() closes it.
 */
export async function startTestServer(
  t: TestDatabase,
  overrides: Partial<Config> = {},
): Promise<JobdeckServer> {
  const server = await startServer({
    config: testConfig({
      jwtSecret: TEST_JWT_SECRET,
      host: '127.0.0.1',
      devSignin: true,
      ...overrides,
    }),
    connectionString: t.url,
    port: 0,
  });
  servers.add(server);
  return server;
}

export async function stopServers(): Promise<void> {
  const left = [...servers];
  servers.clear();
  await Promise.all(left.map((server) => server.close()));
}

/** A token for a test user (signed with {@link TEST_JWT_SECRET}). */
export function tokenFor(
  userId: string,
  orgId: string,
  options: { role?: Role; permissions?: Permission[]; ttlSeconds?: number } = {},
): Promise<string> {
  return signToken({ userId, orgId, ...options }, TEST_JWT_SECRET);
}

/**
 * The tenants the cross-tenant tests play: alice and bob at acme, the admins of acme and globex,
 * and alice again at globex (the same user id in another organisation).
 */
export async function tenantTokens(): Promise<{
  alice: string;
  bob: string;
  acmeAdmin: string;
  globexAdmin: string;
  aliceAtGlobex: string;
}> {
  return {
    alice: await tokenFor('alice', 'acme'),
    bob: await tokenFor('bob', 'acme'),
    acmeAdmin: await tokenFor('root', 'acme', { role: 'admin' }),
    globexAdmin: await tokenFor('root', 'globex', { role: 'admin' }),
    aliceAtGlobex: await tokenFor('alice', 'globex'),
  };
}

export interface GraphqlResponse<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown>; path?: unknown[] }[];
}

/** POSTs a GraphQL operation over real HTTP. */
export async function gql<T = Record<string, unknown>>(
  server: JobdeckServer,
  query: string,
  options: { variables?: Record<string, unknown>; token?: string; authorization?: string } = {},
): Promise<GraphqlResponse<T>> {
  // The GraphQL-over-HTTP media type: request errors are 4xx (under plain application/json, what
  // a client without Accept gets, they are 200).
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json',
  };
  if (options.token) headers['authorization'] = `Bearer ${options.token}`;
  if (options.authorization !== undefined) headers['authorization'] = options.authorization;
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables: options.variables ?? {} }),
  });
  const body = (await response.json()) as Omit<GraphqlResponse<T>, 'status'>;
  return { status: response.status, ...body };
}

/** A graphql-ws subscription whose events a test can await one by one. */
export interface TestSubscription<T> {
  /** Events received so far. */
  events: T[];
  errors: unknown[];
  /** Resolves with the first event (received before or after the call) that matches. */
  next(match: (event: T) => boolean, options?: { timeoutMs?: number }): Promise<T>;
  close(): Promise<void>;
}

const clients = new Set<Client>();

/**
 * Subscribes over websockets with the token in the connection params, and resolves once the
 * server has acknowledged the subscription (so the LISTEN is in place before the test acts).
 */
export async function subscribe<T = Record<string, unknown>>(
  server: JobdeckServer,
  query: string,
  options: { variables?: Record<string, unknown>; token?: string; expectError?: boolean } = {},
): Promise<TestSubscription<T>> {
  const before = server.changes.activeSubscriptions;
  const client = createClient({
    url: `${server.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    connectionParams: options.token ? { authorization: `Bearer ${options.token}` } : {},
  });
  clients.add(client);
  const events: T[] = [];
  const errors: unknown[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const waiter of waiters) waiter();
  };
  const stop = client.subscribe<T>(
    { query, variables: options.variables ?? {} },
    {
      next: (value) => {
        if (value.errors) errors.push(...value.errors);
        if (value.data) events.push(value.data as T);
        notify();
      },
      error: (error) => {
        errors.push(error);
        notify();
      },
      complete: notify,
    },
  );
  // graphql-ws has no "subscribed" acknowledgement: wait until the server's LISTEN is in place
  // (or the subscription failed), so events caused after this resolves are never missed.
  if (options.expectError) {
    await waitFor(() => errors.length > 0, { what: 'the subscription to fail' });
  } else {
    await waitFor(() => server.changes.activeSubscriptions > before || errors.length > 0, {
      what: 'the subscription to start',
    });
  }
  return {
    events,
    errors,
    next(match, { timeoutMs = 15_000 } = {}) {
      return new Promise<T>((resolve, reject) => {
        const check = () => {
          const found = events.find(match);
          if (found !== undefined) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `no matching event within ${timeoutMs} ms; got ${JSON.stringify(events)} errors ${JSON.stringify(errors)}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      stop();
      clients.delete(client);
      await client.dispose();
    },
  };
}

/**
 * Closes every test subscription and waits until the servers have let go of them too, so the next
 * test's "subscription started" check counts from a settled figure.
 */
export async function closeSubscriptions(): Promise<void> {
  const left = [...clients];
  clients.clear();
  await Promise.all(left.map((client) => client.dispose()));
  await waitFor(() => [...servers].every((server) => server.changes.activeSubscriptions === 0), {
    what: 'the servers to end closed subscriptions',
  });
}
