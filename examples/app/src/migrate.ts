import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrate } from 'jobdeck';

const MIGRATIONS = fileURLToPath(new URL('../migrations/', import.meta.url));

/**
 * Brings the database up to date: jobdeck's migrations first (they ship inside the package),
 * then the application's own. The application's files are written to be re-runnable.
 */
export async function migrateApp(pool: pg.Pool): Promise<void> {
  await migrate(pool);
  for (const name of (await readdir(MIGRATIONS)).filter((n) => n.endsWith('.sql')).sort()) {
    await pool.query(await readFile(path.join(MIGRATIONS, name), 'utf8'));
  }
}

if (import.meta.main) {
  const connectionString = process.env['DATABASE_URL'];
  if (!connectionString) {
    console.error('set DATABASE_URL to the application database');
    process.exit(2);
  }
  const pool = new pg.Pool({ connectionString });
  await migrateApp(pool);
  await pool.end();
  console.log('database is up to date');
}
