import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedPostgres } from 'jobdeck';
import { hashPassword } from '../src/auth.ts';
import { migrateApp } from '../src/migrate.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

let server: EmbeddedPostgres | undefined;
let dataDir: string | undefined;

/** A real PostgreSQL for the suite: TEST_DATABASE_URL, or jobdeck's embedded one. */
export async function setup(project: TestProject): Promise<void> {
  let url = process.env['TEST_DATABASE_URL'];
  if (!url) {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'example-app-'));
    // As root, PostgreSQL runs as an unprivileged OS user, who must be able to enter this folder.
    await chmod(dataDir, 0o755);
    server = await startEmbeddedPostgres({ dataDir });
    url = server.url;
  }
  const pool = new pg.Pool({ connectionString: url });
  pool.on('error', () => {});
  try {
    await migrateApp(pool);
    const users = [
      ['alice', 'acme', 'user'],
      ['bob', 'acme', 'user'],
      ['carol', 'acme', 'admin'],
      ['dave', 'globex', 'admin'],
    ] as const;
    for (const [id, org, role] of users)
      await pool.query(
        `insert into users (id, org_id, role, password_hash) values ($1, $2, $3, $4)
         on conflict (id) do nothing`,
        [id, org, role, await hashPassword(`${id}-password`)],
      );
  } finally {
    await pool.end();
  }
  project.provide('databaseUrl', url);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}
