import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { runMigrations } from 'graphile-worker';
import { makeWorkerLogger } from '../logger.ts';
import { PACKAGE_ROOT } from '../paths.ts';

/** The migrations shipped with jobdeck. */
export const MIGRATIONS_DIR = path.join(PACKAGE_ROOT, 'migrations');

/** One advisory lock key for all of jobdeck's schema changes ("jobdeck" as a number). */
const MIGRATION_LOCK_KEY = 0x6a6f6264;

export interface MigrationFile {
  id: number;
  name: string;
  sql: string;
  checksum: string;
}

/** The committed schema dump (`npm run schema:dump`), kept beside the migrations; not one of them. */
export const SCHEMA_DUMP_FILE = 'schema.sql';

/** Reads `000001_name.sql` files in order; a gap or duplicate number is a packaging error. */
export async function readMigrations(dir = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const names = (await readdir(dir))
    .filter((name) => name.endsWith('.sql') && name !== SCHEMA_DUMP_FILE)
    .sort();
  const files: MigrationFile[] = [];
  for (const name of names) {
    const match = /^(\d{6})_[a-z0-9_]+\.sql$/.exec(name);
    if (!match) throw new Error(`migration file name "${name}" must look like 000001_name.sql`);
    const id = Number(match[1]);
    if (id !== files.length + 1)
      throw new Error(`migration ${name} is out of sequence: expected number ${files.length + 1}`);
    const sql = await readFile(path.join(dir, name), 'utf8');
    files.push({ id, name, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return files;
}

/** What {@link migrate} did. */
export interface MigrateResult {
  applied: string[];
}

/**
 * Brings the database up to date: Graphile Worker's schema (migrated by Graphile Worker), then
 * jobdeck's numbered SQL files, each in its own transaction and recorded in
 * `jobdeck_private.migrations`. Safe when several processes migrate at once: they queue on one
 * advisory lock, and the later ones find nothing left to do.
 */
export async function migrate(
  pool: pg.Pool,
  options: { dir?: string } = {},
): Promise<MigrateResult> {
  const files = await readMigrations(options.dir);
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await runMigrations({ pgPool: pool, logger: makeWorkerLogger('warn') });
      await client.query(`
        create schema if not exists jobdeck_private;
        create table if not exists jobdeck_private.migrations (
          id integer primary key,
          name text not null,
          checksum text not null,
          applied_at timestamptz not null default now()
        );`);
      const { rows } = await client.query<{ id: number; name: string; checksum: string }>(
        'select id, name, checksum from jobdeck_private.migrations order by id',
      );
      const known = new Map(files.map((file) => [file.id, file]));
      for (const row of rows) {
        const file = known.get(row.id);
        if (!file) {
          throw new Error(
            `the database has migration ${row.name}, which this copy of jobdeck does not know: it is older than the database`,
          );
        }
        if (file.checksum !== row.checksum) {
          console.warn(
            `[jobdeck] migration ${file.name} changed after it was applied; migrations must stay frozen`,
          );
        }
      }
      const done = new Set(rows.map((row) => row.id));
      for (const file of files) {
        if (done.has(file.id)) continue;
        await client.query('begin');
        try {
          await client.query(file.sql);
          await client.query(
            'insert into jobdeck_private.migrations (id, name, checksum) values ($1, $2, $3)',
            [file.id, file.name, file.checksum],
          );
          await client.query('commit');
        } catch (error) {
          await client.query('rollback');
          throw new Error(`migration ${file.name} failed: ${(error as Error).message}`, {
            cause: error,
          });
        }
        applied.push(file.name);
      }
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
  return { applied };
}
