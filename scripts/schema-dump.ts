// `npm run schema:dump`: migrates a scratch database and writes migrations/schema.sql, the text
// dump of jobdeck's schemas that shows every change to the database as a diff (docs/sql.md).
// Uses TEST_DATABASE_URL's server when set (a scratch database is created and dropped there),
// else an embedded PostgreSQL of its own in a temporary folder.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate, MIGRATIONS_DIR, SCHEMA_DUMP_FILE } from '../src/db/migrate.ts';
import { createPool } from '../src/db/pool.ts';
import { dumpSchema } from '../src/db/schema-dump.ts';

const config = loadConfig();
let embedded: EmbeddedPostgres | null = null;
let dataDir: string | null = null;
let adminUrl: string;
if (config.testDatabaseUrl) {
  adminUrl = config.testDatabaseUrl;
} else {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'jobdeck-schema-'));
  await chmod(dataDir, 0o755);
  embedded = await startEmbeddedPostgres({
    dataDir,
    database: 'postgres',
    settings: { fsync: 'off' },
  });
  adminUrl = embedded.url;
}
const database = `jobdeck_schema_dump_${process.pid}`;
const url = new URL(adminUrl);
url.pathname = `/${database}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
try {
  await admin.query(`create database ${database}`);
  try {
    const pool = createPool(url.toString(), { max: 2, applicationName: 'jobdeck-schema-dump' });
    try {
      await migrate(pool);
      const client = await pool.connect();
      try {
        const file = path.join(MIGRATIONS_DIR, SCHEMA_DUMP_FILE);
        await writeFile(file, await dumpSchema(client));
        process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
    }
  } finally {
    // Not `with (force)`: the pool's connections are closing, and DROP DATABASE waits for them.
    await admin.query(`drop database if exists ${database}`);
  }
} finally {
  await admin.end();
  await embedded?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}
