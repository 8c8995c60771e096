import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signToken } from '../../src/auth/tokens.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import { tokenFor } from '../helpers/api.ts';
import { useApiTestbed } from '../helpers/testbed.ts';

let server: JobdeckServer;
let token: string;

const bed = useApiTestbed();

beforeAll(async () => {
  ({ server } = bed);
  token = await tokenFor('gina', 'acme');
});

const post = (headers: Record<string, string>, query = '{ jobs { totalCount } }') =>
  fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify({ query }),
  });

describe('GraphQL over HTTP: media types', () => {
  it('answers application/json without Accept or to a wildcard, graphql-response+json when asked for it', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{}, /^application\/json/],
      [{ accept: '*/*' }, /^application\/json/],
      [{ accept: 'application/*' }, /^application\/json/],
      [{ accept: 'application/json' }, /^application\/json/],
      [{ accept: 'application/graphql-response+json' }, /^application\/graphql-response\+json/],
      [
        { accept: 'application/graphql-response+json, application/json;q=0.9' },
        /^application\/graphql-response\+json/,
      ],
    ];
    for (const [headers, type] of cases) {
      const response = await post(headers);
      expect(response.status, JSON.stringify(headers)).toBe(200);
      expect(response.headers.get('content-type'), JSON.stringify(headers)).toMatch(type);
      expect(await response.json()).toEqual({ data: { jobs: { totalCount: 0 } } });
    }
    // a document that does not validate: 200 under application/json, 400 under the new type
    expect((await post({ accept: '*/*' }, '{ nope }')).status).toBe(200);
    expect((await post({ accept: 'application/graphql-response+json' }, '{ nope }')).status).toBe(
      400,
    );
  });
});

describe('GraphQL over HTTP: methods', () => {
  it('answers GET (without a websocket upgrade) and other methods with 405 and Allow: POST', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const response = await fetch(`${server.url}/graphql?query=%7B__typename%7D`, { method });
      expect(response.status, method).toBe(405);
      expect(response.headers.get('allow'), method).toBe('POST');
    }
  });
});

/** Opens a graphql-transport-ws connection, sends connection_init, and reports how it ends. */
function initWith(params: Record<string, unknown>) {
  return new Promise<{ acked: boolean; code: number; reason: string }>((resolve, reject) => {
    const socket = new WebSocket(`${server.url.replace(/^http/, 'ws')}/graphql`, [
      'graphql-transport-ws',
    ]);
    let acked = false;
    socket.on('open', () =>
      socket.send(JSON.stringify({ type: 'connection_init', payload: params })),
    );
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string };
      if (message.type === 'connection_ack') {
        acked = true;
        socket.close(1000, 'done');
      }
    });
    socket.on('close', (code, reason) => resolve({ acked, code, reason: String(reason) }));
    socket.on('error', reject);
  });
}

describe('graphql-transport-ws', () => {
  it('closes a connection whose connection_init carries a bad token with 4403 Forbidden and the reason', async () => {
    const refused = await initWith({ authorization: 'Bearer not-a-token' });
    expect(refused.acked).toBe(false);
    expect(refused.code).toBe(4403);
    expect(refused.reason).toMatch(/^Forbidden: .*not a JWT/);
    const foreign = await initWith({
      authorization: `Bearer ${await signToken({ userId: 'gina', orgId: 'acme' }, 'another-secret-that-is-32-characters-long!')}`,
    });
    expect(foreign).toMatchObject({ acked: false, code: 4403 });
    expect(foreign.reason).toMatch(/signature does not match/);
  });

  it('acknowledges a good token, and no token (anonymous callers are refused per operation)', async () => {
    expect(await initWith({ authorization: `Bearer ${token}` })).toMatchObject({
      acked: true,
      code: 1000,
    });
    expect(await initWith({})).toMatchObject({ acked: true, code: 1000 });
  });
});
