import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startCli } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

// The attack (audit finding 5): `jobdeck start` printed the embedded PostgreSQL's superuser URL,
// password included, on every start; start-up output ends up in terminals' scrollback, CI logs and
// log collectors, where anyone reading them could log in to the database as its superuser.

/** Runs a long-running command until it is ready, stops it with Ctrl-C, and returns its output. */
async function outputOf(args: string[], env: Record<string, string>): Promise<string> {
  // generous: a first start initialises a cluster, on a machine busy with the other test files
  const { child, output, exited } = await startCli(args, env, { timeoutMs: 100_000 });
  child.kill('SIGINT');
  expect(await exited).toBe(0);
  return output();
}

describe('start-up output', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'jobdeck-secrets-'));
    // as root, the embedded PostgreSQL runs as an unprivileged user who must reach its folder
    await chmod(dataDir, 0o755);
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it(
    'of jobdeck start on an embedded PostgreSQL masks the superuser password and says where it is',
    { timeout: 120_000 },
    async () => {
      const output = await outputOf(['start'], {
        JOBDECK_DATA_DIR: dataDir,
        JOBDECK_TASKS_DIR: path.join(ROOT, 'tasks'),
        JOBDECK_CRONTAB: path.join(dataDir, 'no-crontab'),
        JOBDECK_PORT: '0',
        JOBDECK_DEV_SIGNIN: 'true',
        JOBDECK_LOG_LEVEL: 'debug',
      });
      const { password, user } = JSON.parse(
        await readFile(path.join(dataDir, 'embedded-postgres.json'), 'utf8'),
      ) as { password: string; user: string };
      const jwtSecret = (await readFile(path.join(dataDir, 'jwt-secret'), 'utf8')).trim();
      expect(password.length).toBeGreaterThan(16);
      expect(output).not.toContain(password);
      expect(output).not.toContain(encodeURIComponent(password));
      expect(output).not.toContain(jwtSecret);
      expect(output).toMatch(
        new RegExp(
          `PostgreSQL \\(embedded server started\\): postgres://${user}:\\*{4}@127\\.0\\.0\\.1:\\d+/jobdeck \\(password in \\S*embedded-postgres\\.json\\)`,
        ),
      );
      // the development sign-in it was asked for is announced, without any secret
      expect(output).toMatch(/development sign-in is on \(JOBDECK_DEV_SIGNIN=true\)/);
    },
  );
});

describe('start-up output with DATABASE_URL and secrets from the environment', () => {
  let t: TestDatabase;

  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('of jobdeck serve shows none of them', { timeout: 60_000 }, async () => {
    const jwtSecret = 'jwt-secret-printed-nowhere-0123456789abcdef';
    const webhookSecret = 'webhook-secret-printed-nowhere-0123456789';
    const metricsToken = 'metrics-token-printed-nowhere';
    const url = new URL(t.url);
    // A server with trust authentication (TEST_DATABASE_URL) takes any password: give it one.
    if (!url.password) url.password = 'db-password-printed-nowhere';
    const output = await outputOf(['serve'], {
      DATABASE_URL: url.toString(),
      JOBDECK_TASKS_DIR: path.join(ROOT, 'tasks'),
      JOBDECK_PORT: '0',
      JOBDECK_JWT_SECRET: jwtSecret,
      JOBDECK_WEBHOOK_SECRET: webhookSecret,
      JOBDECK_METRICS_TOKEN: metricsToken,
      JOBDECK_LOG_LEVEL: 'debug',
    });
    expect(output).toMatch(/ready/);
    for (const secret of [
      url.password,
      decodeURIComponent(url.password),
      jwtSecret,
      webhookSecret,
      metricsToken,
    ])
      expect(output).not.toContain(secret);
  });
});
