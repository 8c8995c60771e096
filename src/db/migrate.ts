import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { runMigrations } from 'graphile-worker';
import { makeWorkerLogger } from '../logger.ts';
import { PACKAGE_ROOT } from '../paths.ts';
import { VERSION } from '../version.ts';
import { readSqlFiles, SQL_DIR, type SqlFile } from './sql-files.ts';

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
  /** Numbered migrations applied, e.g. `000008_sql_files.sql`. */
  applied: string[];
  /** sql/ files (re-)applied, in the order they ran, e.g. `worker/finish_jobs.sql`. */
  sql: string[];
}

/** Options for {@link migrate}. */
export interface MigrateOptions {
  /** Folder of numbered migrations; default: the ones shipped with jobdeck. */
  dir?: string;
  /**
   * Folder of functions and views (docs/sql.md); default: the one shipped with jobdeck. `null`
   * applies numbered migrations only, as jobdeck did before migration 000008 (for upgrade tests).
   */
  sqlDir?: string | null;
}

/**
 * Brings the database up to date: Graphile Worker's schema (migrated by Graphile Worker), then
 * jobdeck's numbered SQL files, each in its own transaction and recorded in
 * `jobdeck_private.migrations`, then the sql/ files whose text changed since they were last
 * applied (recorded in `jobdeck_private.sql_files`), in dependency order, in one transaction.
 * Safe when several processes migrate at once: they queue on one advisory lock, and the later
 * ones find nothing left to do.
 */
export async function migrate(pool: pg.Pool, options: MigrateOptions = {}): Promise<MigrateResult> {
  const files = await readMigrations(options.dir);
  // Read and check sql/ before touching the database: a bad header fails before any change.
  const sqlFiles = options.sqlDir === null ? null : await readSqlFiles(options.sqlDir ?? SQL_DIR);
  const client = await pool.connect();
  const applied: string[] = [];
  let sql: string[] = [];
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
      if (sqlFiles) sql = await applySqlFiles(client, sqlFiles);
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
  return { applied, sql };
}

/**
 * Applies, in one transaction, the files whose checksum differs from the one recorded, in the
 * order given (dependency order), and records them. A file that leaves a function it defines
 * with more than one signature is refused: a changed signature drops the old one explicitly.
 * A copy of jobdeck older than the one that last applied a file leaves sql/ alone, so an old
 * process restarting during a rolling upgrade does not put back old definitions.
 */
async function applySqlFiles(client: pg.PoolClient, files: readonly SqlFile[]): Promise<string[]> {
  const table = await client.query<{ found: string | null }>(
    "select to_regclass('jobdeck_private.sql_files')::text as found",
  );
  if (!table.rows[0]?.found) {
    throw new Error(
      'jobdeck_private.sql_files does not exist: the migrations folder lacks 000008_sql_files.sql',
    );
  }
  const { rows } = await client.query<{ path: string; checksum: string; version: string }>(
    'select path, checksum, version from jobdeck_private.sql_files',
  );
  const newer = rows.find((row) => compareVersions(row.version, VERSION) > 0);
  if (newer) {
    console.warn(
      `[jobdeck] sql/${newer.path} was applied by jobdeck ${newer.version}, newer than this copy (${VERSION}); leaving the database's functions as they are`,
    );
    return [];
  }
  const recorded = new Map(rows.map((row) => [row.path, row.checksum]));
  const present = await presentObjects(client);
  const changed = files.filter(
    (file) =>
      recorded.get(file.path) !== file.checksum ||
      // e.g. a numbered migration dropped a view to change a column it reads
      file.defines.some((object) => !present.objects.has(`${object.schema}.${object.name}`)) ||
      file.triggers.some((trigger) => !present.triggers.has(trigger)),
  );
  const gone = rows.filter((row) => !files.some((file) => file.path === row.path));
  if (changed.length === 0 && gone.length === 0) {
    warnAboutStrays(files, present.objects);
    return [];
  }
  await client.query('begin');
  try {
    for (const file of changed) {
      try {
        await client.query(file.sql);
      } catch (error) {
        const { code, message } = error as { code?: string; message: string };
        // 42P13: create or replace cannot change a return type, argument names or defaults.
        const hint =
          code === '42P13'
            ? ': its signature changed, so the file must drop the old one first (drop function if exists …; see docs/sql.md)'
            : '';
        throw new Error(`sql/${file.path} failed: ${message}${hint}`, { cause: error });
      }
      await checkOneSignature(client, file);
      await client.query(
        `insert into jobdeck_private.sql_files (path, checksum, version) values ($1, $2, $3)
         on conflict (path) do update
           set checksum = excluded.checksum, version = excluded.version, applied_at = now()`,
        [file.path, file.checksum, VERSION],
      );
    }
    // A file removed from sql/ is forgotten; dropping its function is a numbered migration's job.
    await client.query('delete from jobdeck_private.sql_files where path = any($1)', [
      gone.map((row) => row.path),
    ]);
    await client.query('commit');
  } catch (error) {
    await client.query('rollback');
    throw error;
  }
  // After the files ran: a file may drop the function it replaces (docs/sql.md).
  warnAboutStrays(files, (await presentObjects(client)).objects);
  return changed.map((file) => file.path);
}

/** Functions and views of jobdeck's schemas as `schema.name`; triggers as `name on schema.table`. */
async function presentObjects(
  client: pg.PoolClient,
): Promise<{ objects: Set<string>; triggers: Set<string> }> {
  const { rows } = await client.query<{ trigger: boolean; name: string }>(
    `select false as trigger, n.nspname || '.' || p.proname as name
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname in ('jobdeck', 'jobdeck_private')
     union
     select false, n.nspname || '.' || c.relname
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname in ('jobdeck', 'jobdeck_private') and c.relkind in ('v', 'm')
     union
     select true, t.tgname || ' on ' || n.nspname || '.' || c.relname
       from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
      where not t.tgisinternal`,
  );
  return {
    objects: new Set(rows.filter((row) => !row.trigger).map((row) => row.name)),
    triggers: new Set(rows.filter((row) => row.trigger).map((row) => row.name)),
  };
}

/**
 * Deleting a file does not drop its function (a numbered migration does): say so when the
 * database has a function or view of jobdeck's schemas that no file defines.
 */
function warnAboutStrays(files: readonly SqlFile[], present: Set<string>): void {
  const defined = new Set(
    files.flatMap((file) => file.defines.map((d) => `${d.schema}.${d.name}`)),
  );
  const strays = [...present].filter((name) => !defined.has(name)).sort();
  if (strays.length > 0) {
    console.warn(
      `[jobdeck] ${strays.join(', ')} ${strays.length === 1 ? 'has' : 'have'} no file in sql/; a removed function is dropped by a numbered migration (docs/sql.md)`,
    );
  }
}

/**
 * `create or replace` with different argument types adds a second function beside the old one
 * instead of replacing it: refuse that, naming both, so the old one is dropped on purpose.
 */
async function checkOneSignature(client: pg.PoolClient, file: SqlFile): Promise<void> {
  const functions = file.defines.filter((object) => object.kind === 'function');
  const { rows } = await client.query<{ schema: string; name: string; signatures: string[] }>(
    `select n.nspname as schema, p.proname as name,
            array_agg(p.oid::regprocedure::text order by p.oid::regprocedure::text) as signatures
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where (n.nspname, p.proname) in (select * from unnest($1::text[], $2::text[]))
      group by 1, 2`,
    [functions.map((f) => f.schema), functions.map((f) => f.name)],
  );
  for (const row of rows) {
    const defined = functions.filter((f) => f.schema === row.schema && f.name === row.name).length;
    if (row.signatures.length > defined) {
      throw new Error(
        `sql/${file.path} defines ${row.schema}.${row.name} ${defined === 1 ? 'once' : `${defined} times`}, ` +
          `but the database now has ${row.signatures.join(', ')}: when a signature changes, drop the old ` +
          'function at the top of the file (drop function if exists …; see docs/sql.md)',
      );
    }
  }
}

/**
 * Orders two versions `major.minor.patch[-prerelease]` as semver does (a prerelease comes before
 * its release). Hand-written: this comparison is all we need of a semver library.
 */
export function compareVersions(a: string, b: string): number {
  const parse = (version: string) => {
    const [core = '', pre] = version.split(/-(.*)/s, 2);
    return { core: core.split('.').map(Number), pre: pre ? pre.split('.') : [] };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) {
    const diff = (x.core[i] ?? 0) - (y.core[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  if (x.pre.length === 0 || y.pre.length === 0) {
    return Math.sign(y.pre.length - x.pre.length); // 1.0.0 > 1.0.0-beta
  }
  for (let i = 0; i < Math.max(x.pre.length, y.pre.length); i++) {
    const p = x.pre[i];
    const q = y.pre[i];
    if (p === q) continue;
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    const pNumber = /^\d+$/.test(p);
    const qNumber = /^\d+$/.test(q);
    if (pNumber && qNumber) return Math.sign(Number(p) - Number(q));
    if (pNumber !== qNumber) return pNumber ? -1 : 1;
    return p < q ? -1 : 1;
  }
  return 0;
}
