import { mkdtemp, rm, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../src/config.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createPool } from '../../src/db/pool.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDb: string;
  }
}

let embedded: EmbeddedPostgres | null = null;
let dataDir: string | null = null;

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * Starts one PostgreSQL for the whole run (embedded, or TEST_DATABASE_URL), migrates a template
 * database once; each test file clones its own database from it.
 */
export default async function setup(project: TestProject) {
  const config = loadConfig();
  let adminUrl: string;
  if (config.testDatabaseUrl) {
    adminUrl = config.testDatabaseUrl;
  } else {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'jobdeck-test-'));
    await chmod(dataDir, 0o755);
    // Durability is not under test: skip fsync so the suite runs fast on small machines.
    embedded = await startEmbeddedPostgres({
      dataDir,
      database: 'postgres',
      settings: {
        fsync: 'off',
        synchronous_commit: 'off',
        full_page_writes: 'off',
        max_connections: 300,
      },
    });
    adminUrl = embedded.url;
  }
  const templateDb = `jobdeck_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${templateDb}`);
  await admin.query(`create database ${templateDb}`);
  const pool = createPool(withDatabase(adminUrl, templateDb), { max: 3 });
  await migrate(pool);
  await pool.end();
  await admin.end();
  project.provide('adminUrl', adminUrl);
  project.provide('templateDb', templateDb);

  return async () => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    await client.query(`drop database if exists ${templateDb} with (force)`);
    await client.end();
    await embedded?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  };
}
