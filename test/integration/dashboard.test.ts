import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { verifyToken } from '../../src/auth/tokens.ts';
import { ACTIVE_STATUSES, FINISHED_STATUSES, canCancel, canRetry } from '../../src/jobs/states.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import { TEST_JWT_SECRET, startTestServer } from '../helpers/api.ts';
import { ROOT } from '../helpers/cli.ts';
import type { TestDatabase } from '../helpers/db.ts';
import { useApiTestbed } from '../helpers/testbed.ts';

/** The dashboard's ES modules (app.js, lib.js, views/…). */
async function dashboardModules(): Promise<string[]> {
  const dir = path.join(ROOT, 'dashboard');
  const entries = await readdir(dir, { recursive: true });
  return entries.filter((f) => f.endsWith('.js')).map((f) => path.join(dir, f));
}

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
    for (const name of ['preact', 'preact-hooks', 'htm', 'graphql-ws', 'uplot']) {
      const response = await fetch(`${server.url}/vendor/${name}.js`);
      expect(response.status, name).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/javascript/);
    }
    // graphql-ws's client imports a chunk next to it, by relative path
    const client = await (await fetch(`${server.url}/vendor/graphql-ws.js`)).text();
    const chunk = /from '\.\/(common-[^']+\.js)'/.exec(client)![1]!;
    expect((await fetch(`${server.url}/vendor/${chunk}`)).status).toBe(200);
    const css = await fetch(`${server.url}/vendor/uplot.css`);
    expect(css.headers.get('content-type')).toMatch(/text\/css/);
  });

  it('answers every page under /ui/ with the page, and leads / there', async () => {
    const root = await fetch(`${server.url}/?x=1`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/ui/?x=1');
    expect((await fetch(`${server.url}/ui`, { redirect: 'manual' })).headers.get('location')).toBe(
      '/ui/',
    );
    for (const url of [
      '/ui/',
      '/ui/jobs/00000000-0000-4000-8000-000000000000',
      '/ui/history?status=failed&type=import',
      '/ui/queues/emails',
      '/ui/batches/00000000-0000-4000-8000-000000000000',
      '/ui/no/such/view',
    ]) {
      const page = await fetch(`${server.url}${url}`);
      expect(page.status, url).toBe(200);
      expect(page.headers.get('content-type'), url).toMatch(/text\/html/);
      expect(await page.text(), url).toMatch(/src="\/app.js"/);
    }
    // the API's own routes are not pages: REST keeps /jobs/{id}
    const rest = await fetch(`${server.url}/jobs/00000000-0000-4000-8000-000000000000`);
    expect(rest.headers.get('content-type')).toMatch(/json/);
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
    // lib.js reads them from there, and no module keeps a list of its own
    const lib = await readFile(path.join(ROOT, 'dashboard/lib.js'), 'utf8');
    expect(lib).toMatch(/getElementById\('jobdeck-states'\)/);
    for (const file of await dashboardModules())
      expect(await readFile(file, 'utf8'), file).not.toMatch(/\[\s*'queued',/);
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
    const page = await (await fetch(`${server.url}/ui/`)).text();
    const mapped = Object.keys(
      (
        JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(page)![1]!) as {
          imports: Record<string, string>;
        }
      ).imports,
    );
    const dashboard = path.join(ROOT, 'dashboard');
    for (const file of await dashboardModules()) {
      const source = await readFile(file, 'utf8');
      for (const [, name] of source.matchAll(/^import [\s\S]*? from '([^']+)';$/gm)) {
        if (name!.startsWith('.')) {
          // a module next to it, served as a file of the dashboard
          const target = path.relative(dashboard, path.resolve(path.dirname(file), name!));
          expect((await fetch(`${server.url}/${target}`)).status, `${file}: ${name}`).toBe(200);
        } else expect(mapped, `${file}: ${name}`).toContain(name);
      }
    }
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
