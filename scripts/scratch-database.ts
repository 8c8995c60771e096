// A scratch database for the scripts (schema dump, screenshots): on TEST_DATABASE_URL's server
// when set, else in an embedded PostgreSQL of its own in a temporary folder; dropped afterwards.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/db/embedded.ts';

/**
 * Runs `use` with the URL of a new, empty database named `<name>_<pid>`, then drops it (the
 * caller must have closed its connections: DROP DATABASE waits for them) and stops the embedded
 * server if one was started.
 */
export async function withScratchDatabase<T>(
  name: string,
  use: (url: string) => Promise<T>,
): Promise<T> {
  const config = loadConfig();
  let embedded: EmbeddedPostgres | null = null;
  let dataDir: string | null = null;
  let adminUrl: string;
  if (config.testDatabaseUrl) {
    adminUrl = config.testDatabaseUrl;
  } else {
    dataDir = await mkdtemp(path.join(os.tmpdir(), `${name.replace(/_/g, '-')}-`));
    await chmod(dataDir, 0o755);
    embedded = await startEmbeddedPostgres({
      dataDir,
      database: 'postgres',
      settings: { fsync: 'off' },
    });
    adminUrl = embedded.url;
  }
  const database = `${name}_${process.pid}`;
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${database}`);
    try {
      return await use(url.toString());
    } finally {
      await admin.query(`drop database if exists ${database}`);
    }
  } finally {
    await admin.end();
    await embedded?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}
