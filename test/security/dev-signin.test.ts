import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyToken } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config.ts';
import { ConfigError } from '../../src/errors.ts';
import { jobdeckFastify } from '../../src/http/plugin.ts';
import { startServer, type JobdeckServer } from '../../src/http/server.ts';
import { TEST_JWT_SECRET } from '../helpers/api.ts';
import { runCli } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { nonLoopbackAddress } from '../helpers/net.ts';

// The attack (audit finding 5): a server started for production the way its operator thought
// right (JOBDECK_ENV=production, a JWT secret, JOBDECK_HOST=0.0.0.0) still served POST /dev/token,
// and anyone who could reach it minted an admin token for any organisation.
const PRODUCTION_LIKE = {
  JOBDECK_ENV: 'production',
  JOBDECK_JWT_SECRET: TEST_JWT_SECRET,
  JOBDECK_HOST: '0.0.0.0',
  JOBDECK_PORT: '0',
  JOBDECK_LOG_LEVEL: 'error',
};
const ADMIN_OF_ANY_ORG = JSON.stringify({ user: 'mallory', org: 'victim-corp', role: 'admin' });

/** This machine's address on its network: where another machine would connect. */
const lan = nonLoopbackAddress();

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
});

afterAll(async () => {
  await t?.drop();
});

const mint = (origin: string, headers: Record<string, string> = {}) =>
  fetch(`${origin}/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: ADMIN_OF_ANY_ORG,
  });

describe('the development sign-in asked for on a host others can reach', () => {
  it.each([
    ['0.0.0.0', '0.0.0.0'],
    ['::', '::'],
    ['a non-loopback interface address', lan ?? '192.0.2.1'],
  ])('stops jobdeck serve before it listens (%s), naming the setting', async (_name, host) => {
    const result = await runCli(['serve'], {
      ...PRODUCTION_LIKE,
      JOBDECK_HOST: host,
      JOBDECK_DEV_SIGNIN: 'true',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `JOBDECK_DEV_SIGNIN=true: the development sign-in (POST /dev/token) would mint tokens for anyone who can reach JOBDECK_HOST=${host}`,
    );
    expect(result.stdout).not.toMatch(/ready/);
  });

  it('is refused in production even on loopback', () => {
    expect(() =>
      loadConfig({ NODE_ENV: 'production', JOBDECK_DEV_SIGNIN: 'true', JOBDECK_HOST: '127.0.0.1' }),
    ).toThrow(
      /JOBDECK_DEV_SIGNIN=true: the development sign-in is not allowed with NODE_ENV=production/,
    );
  });

  it('is refused by startServer for a configuration built in code', async () => {
    const config = {
      ...loadConfig(PRODUCTION_LIKE),
      devSignin: true,
    };
    await expect(startServer({ config, connectionString: t.url, port: 0 })).rejects.toThrow(
      ConfigError,
    );
  });
});

describe.skipIf(!lan)('a server on 0.0.0.0 without the opt-in (the audit’s setup)', () => {
  let server: JobdeckServer;

  beforeAll(async () => {
    server = await startServer({
      config: loadConfig(PRODUCTION_LIKE),
      connectionString: t.url,
      port: 0,
    });
  });
  afterAll(() => server?.close());

  it('mints no token, from another machine or this one', async () => {
    for (const origin of [`http://${lan}:${server.port}`, `http://127.0.0.1:${server.port}`]) {
      const response = await mint(origin);
      expect(response.status, origin).toBe(404);
      expect(await response.text(), origin).not.toMatch(/token"\s*:/);
      const session = (await (await fetch(`${origin}/session`)).json()) as object;
      expect(session).toMatchObject({ auth: 'token', devSignin: false });
    }
  });

  it('serves no GraphiQL unless JOBDECK_GRAPHIQL asks for it', async () => {
    expect(loadConfig(PRODUCTION_LIKE).graphiql).toBe(false);
    expect(loadConfig({ ...PRODUCTION_LIKE, JOBDECK_GRAPHIQL: 'true' }).graphiql).toBe(true);
    expect((await fetch(`http://${lan}:${server.port}/graphiql`)).status).toBe(404);
  });
});

describe.skipIf(!lan)('jobdeckFastify with devTokens in an application on 0.0.0.0', () => {
  let app: FastifyInstance;
  let port: number;

  beforeAll(async () => {
    app = Fastify();
    await app.register(jobdeckFastify, {
      connectionString: t.url,
      config: { jwtSecret: TEST_JWT_SECRET },
      devTokens: true,
    });
    await app.listen({ port: 0, host: '0.0.0.0' });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(() => app?.close());

  it('refuses a request from another machine', async () => {
    const response = await mint(`http://${lan}:${port}`);
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      error: 'forbidden',
      message:
        'the development sign-in answers only requests from this machine (loopback, not through a proxy)',
    });
  });

  it('refuses a request a proxy on this machine forwarded', async () => {
    for (const header of ['x-forwarded-for', 'forwarded', 'x-real-ip']) {
      const response = await mint(`http://127.0.0.1:${port}`, { [header]: '203.0.113.9' });
      expect(response.status, header).toBe(403);
    }
  });

  it('answers a request from this machine', async () => {
    const response = await mint(`http://127.0.0.1:${port}`);
    expect(response.status).toBe(200);
    const { token } = (await response.json()) as { token: string };
    expect(await verifyToken(token, TEST_JWT_SECRET)).toMatchObject({
      userId: 'mallory',
      orgId: 'victim-corp',
    });
  });
});
