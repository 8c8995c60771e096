// `npm run schema:dump`: migrates a scratch database and writes migrations/schema.sql, the text
// dump of jobdeck's schemas that shows every change to the database as a diff (docs/sql.md).
// Uses TEST_DATABASE_URL's server when set (a scratch database is created and dropped there),
// else an embedded PostgreSQL of its own in a temporary folder.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { migrate, MIGRATIONS_DIR, SCHEMA_DUMP_FILE } from '../src/db/migrate.ts';
import { createPool } from '../src/db/pool.ts';
import { dumpSchema } from '../src/db/schema-dump.ts';
import { withScratchDatabase } from './scratch-database.ts';

await withScratchDatabase('jobdeck_schema_dump', async (url) => {
  const pool = createPool(url, { max: 2, applicationName: 'jobdeck-schema-dump' });
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
});
