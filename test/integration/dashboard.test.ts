import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { verifyToken } from '../../src/auth/tokens.ts';
import { ACTIVE_STATUSES, FINISHED_STATUSES, canCancel, canRetry } from '../../src/jobs/states.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import { TEST_JWT_SECRET, startTestServer } from '../helpers/api.ts';
import { ROOT } from '../helpers/cli.ts';
import type { TestDatabase } from '../helpers/db.ts';
import { useApiTestbed } from '../helpers/testbed.ts';

let t: TestDatabase;
let server: JobdeckServer;

const bed = useApiTestbed();

beforeAll(() => {
  ({ t, server } = bed);
});

describe('the dashboard’s files', () => {
  it('serves the page at / with its import map, and its modules without a token', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toMatch(/<script type="importmap">/);
    expect(html).toMatch(/src="\/app.js"/);
    for (const file of ['/app.js', '/style.css']) {
      expect((await fetch(`${server.url}${file}`)).status, file).toBe(200);
    }
    for (const name of ['preact', 'preact-hooks', 'htm', 'graphql-ws']) {
      const response = await fetch(`${server.url}/vendor/${name}.js`);
      expect(response.status, name).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/javascript/);
    }
    // graphql-ws's client imports a chunk next to it, by relative path
    const client = await (await fetch(`${server.url}/vendor/graphql-ws.js`)).text();
    const chunk = /from '\.\/(common-[^']+\.js)'/.exec(client)![1]!;
    expect((await fetch(`${server.url}/vendor/${chunk}`)).status).toBe(200);
  });

  it('puts the job statuses and what each allows in the page, from src/jobs/states.ts', async () => {
    const html = await (await fetch(`${server.url}/`)).text();
    const json = /<script type="application\/json" id="jobdeck-states">(.*?)<\/script>/s.exec(html);
    expect(json).not.toBeNull();
    const states = JSON.parse(json![1]!) as Record<string, string[]>;
    const all = [...ACTIVE_STATUSES, ...FINISHED_STATUSES];
    expect(states).toEqual({
      active: [...ACTIVE_STATUSES],
      finished: [...FINISHED_STATUSES],
      cancellable: all.filter((status) => canCancel({ status })),
      retryable: all.filter((status) => canRetry({ status })),
    });
    // app.js reads them from there, and keeps no list of its own
    const app = await readFile(path.join(ROOT, 'dashboard/app.js'), 'utf8');
    expect(app).toMatch(/getElementById\('jobdeck-states'\)/);
    expect(app).not.toMatch(/\[\s*'queued',/);
  });

  it('serves nothing outside its folders', async () => {
    for (const url of [
      '/vendor/nope.js',
      '/vendor/..%2F..%2Fpackage.json',
      '/..%2Fpackage.json',
      '/nope.html',
    ]) {
      // 403 when the static server sees a path that tries to leave its folder
      expect([403, 404], url).toContain((await fetch(`${server.url}${url}`)).status);
    }
  });

  it('imports only modules the page maps or serves', async () => {
    const app = await readFile(path.join(ROOT, 'dashboard/app.js'), 'utf8');
    const imports = [...app.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
    expect(imports.sort()).toEqual(['graphql-ws', 'htm', 'preact', 'preact/hooks']);
  });
});

describe('POST /dev/token', () => {
  it('mints a token outside production, naming bad input', async () => {
    const response = await fetch(`${server.url}/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'dana', org: 'acme', role: 'admin' }),
    });
    expect(response.status).toBe(200);
    const { token } = (await response.json()) as { token: string };
    expect(await verifyToken(token, TEST_JWT_SECRET)).toMatchObject({
      userId: 'dana',
      orgId: 'acme',
      role: 'admin',
    });
    const bad = await fetch(`${server.url}/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'dana', org: 'acme', role: 'owner' }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('does not exist in production', async () => {
    const production = await startTestServer(t, {
      production: true,
      graphiql: false,
      devSignin: false,
    });
    try {
      const response = await fetch(`${production.url}/dev/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'x', org: 'y' }),
      });
      expect(response.status).toBe(404);
    } finally {
      await production.close();
    }
  });
});
