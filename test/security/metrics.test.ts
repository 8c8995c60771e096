import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { startServer, type JobdeckServer } from '../../src/http/server.ts';
import { loadTasks } from '../../src/jobs/registry.ts';
import { TEST_JWT_SECRET } from '../helpers/api.ts';
import { ROOT } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { nonLoopbackAddress } from '../helpers/net.ts';
import { registerTasks } from '../helpers/worker.ts';

// The attack (audit finding 9): /metrics, open by default, told anyone who could reach the server
// how many jobs of each kind every tenant runs.
const EXPOSED = {
  JOBDECK_JWT_SECRET: TEST_JWT_SECRET,
  JOBDECK_HOST: '0.0.0.0',
  JOBDECK_LOG_LEVEL: 'error',
};
const TOKEN = 'metrics-token-of-some-length';
const lan = nonLoopbackAddress();

let t: TestDatabase;
let jobdeck: Jobdeck;
const servers: JobdeckServer[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  await registerTasks(t, await loadTasks(path.join(ROOT, 'tasks')));
  jobdeck = createJobdeck({ connectionString: t.url });
  const runAt = new Date(Date.now() + 3_600_000);
  for (const orgId of ['acme', 'globex'])
    await jobdeck.enqueueJob(
      'export_report',
      { reportType: 'quotes', format: 'csv' },
      { ownerId: 'u', orgId, runAt },
    );
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
  await jobdeck?.close();
  await t?.drop();
});

async function serve(env: Record<string, string>, overrides: Partial<Config> = {}) {
  const server = await startServer({
    config: { ...loadConfig({ ...EXPOSED, ...env }), ...overrides },
    connectionString: t.url,
    port: 0,
  });
  servers.push(server);
  return server;
}

const scrape = (origin: string, headers: Record<string, string> = {}) =>
  fetch(`${origin}/metrics`, { headers });

describe.skipIf(!lan)('/metrics on a server bound beyond loopback', () => {
  it('refuses another machine without a token, and says how to allow it', async () => {
    const server = await serve({});
    const response = await scrape(`http://${lan}:${server.port}`);
    expect(response.status).toBe(403);
    const body = await response.text();
    expect(JSON.parse(body)).toEqual({
      error: 'forbidden',
      message:
        'metrics answer only requests from this machine unless JOBDECK_METRICS_TOKEN is set (then send Authorization: Bearer <token>)',
    });
    expect(body).not.toContain('jobdeck_jobs');
    // a proxy on this machine forwarding someone else's request is not this machine either
    const proxied = await scrape(`http://127.0.0.1:${server.port}`, {
      'x-forwarded-for': '203.0.113.9',
    });
    expect(proxied.status).toBe(403);
    // a scraper on this machine still gets the figures
    const local = await scrape(`http://127.0.0.1:${server.port}`);
    expect(local.status).toBe(200);
    expect(await local.text()).toContain('jobdeck_jobs{');
  });

  it('answers only the right bearer token once JOBDECK_METRICS_TOKEN is set', async () => {
    const server = await serve({ JOBDECK_METRICS_TOKEN: TOKEN });
    const origin = `http://${lan}:${server.port}`;
    for (const authorization of [undefined, `Bearer ${TOKEN.replace(/.$/, 'X')}`, TOKEN]) {
      const response = await scrape(origin, authorization ? { authorization } : {});
      expect(response.status, authorization).toBe(401);
      expect(await response.text()).not.toContain('jobdeck_jobs');
    }
    const response = await scrape(origin, { authorization: `Bearer ${TOKEN}` });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('jobdeck_jobs{');
  });
});

describe('per-tenant labels', () => {
  const jobLines = async (server: JobdeckServer) =>
    (await (await scrape(server.url)).text())
      .split('\n')
      .filter((line) => line.startsWith('jobdeck_jobs{'));

  it('are not there unless asked for: one series per status and type', async () => {
    const lines = await jobLines(await serve({ JOBDECK_HOST: '127.0.0.1' }));
    expect(lines).toContain('jobdeck_jobs{status="queued",type="export_report"} 2');
    expect(lines.join('\n')).not.toMatch(/org=|acme|globex/);
  });

  it('split the counts by organisation with JOBDECK_METRICS_ORG_LABEL=true', async () => {
    const lines = await jobLines(
      await serve({ JOBDECK_HOST: '127.0.0.1', JOBDECK_METRICS_ORG_LABEL: 'true' }),
    );
    expect(lines).toEqual(
      expect.arrayContaining([
        'jobdeck_jobs{status="queued",type="export_report",org="acme"} 1',
        'jobdeck_jobs{status="queued",type="export_report",org="globex"} 1',
      ]),
    );
  });
});
