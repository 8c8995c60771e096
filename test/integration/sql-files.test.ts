import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { migrate } from '../../src/db/migrate.ts';
import { readSqlFiles, SQL_DIR, stripSql, type SqlFile } from '../../src/db/sql-files.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

/** A copy of sql/ a test may change. */
async function copyOfSql(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'jobdeck-sql-'));
  await cp(SQL_DIR, dir, { recursive: true });
  return dir;
}

async function edit(dir: string, file: string, change: (sql: string) => string): Promise<void> {
  const full = path.join(dir, file);
  await writeFile(full, change(await readFile(full, 'utf8')));
}

describe('sql/', () => {
  let t: TestDatabase;
  let files: SqlFile[];

  beforeAll(async () => {
    t = await createTestDatabase();
    files = await readSqlFiles();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('has one file for every function and view of jobdeck and jobdeck_private', async () => {
    const { rows } = await t.pool.query<{ schema: string; name: string; n: number }>(
      `select n.nspname as schema, p.proname as name, count(*)::int as n
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname in ('jobdeck', 'jobdeck_private')
        group by 1, 2
       union all
       select n.nspname, c.relname, 1
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname in ('jobdeck', 'jobdeck_private') and c.relkind in ('v', 'm')
        order by 1, 2`,
    );
    expect(rows.length).toBeGreaterThan(40);
    const problems: string[] = [];
    for (const row of rows) {
      const homes = files.filter((file) =>
        file.defines.some((d) => d.schema === row.schema && d.name === row.name),
      );
      if (homes.length !== 1) {
        problems.push(
          `${row.schema}.${row.name} is defined by ${homes.length} files${homes.length ? `: ${homes.map((f) => f.path).join(', ')}` : ' (a removed function is dropped by a numbered migration)'}`,
        );
        continue;
      }
      const defined = homes[0]!.defines.filter(
        (d) => d.schema === row.schema && d.name === row.name,
      ).length;
      if (defined !== row.n) {
        problems.push(
          `${row.schema}.${row.name} has ${row.n} signatures in the database, ${defined} in sql/${homes[0]!.path}`,
        );
      }
    }
    expect(problems).toEqual([]);
  });

  it('defines nothing the database lacks', async () => {
    const { rows } = await t.pool.query<{ name: string }>(
      `select n.nspname || '.' || p.proname as name
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname in ('jobdeck', 'jobdeck_private')
       union
       select n.nspname || '.' || c.relname
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname in ('jobdeck', 'jobdeck_private') and c.relkind in ('v', 'm')`,
    );
    const present = new Set(rows.map((row) => row.name));
    const missing = files.flatMap((file) =>
      file.defines
        .filter((d) => !present.has(`${d.schema}.${d.name}`))
        .map((d) => `sql/${file.path}: ${d.schema}.${d.name}`),
    );
    expect(missing).toEqual([]);
  });

  it('keeps the jobdeck schema in sql/api/ and jobdeck_private in the concept folders', () => {
    const misplaced = files.flatMap((file) =>
      file.defines
        .filter((d) => (d.schema === 'jobdeck') !== file.path.startsWith('api/'))
        .map((d) => `sql/${file.path}: ${d.schema}.${d.name}`),
    );
    expect(misplaced).toEqual([]);
  });

  it('lists in each file the files whose functions it calls (-- requires:)', () => {
    const home = new Map(
      files.flatMap((file) => file.defines.map((d) => [`${d.schema}.${d.name}`, file.path])),
    );
    const missing: string[] = [];
    for (const file of files) {
      const code = stripSql(file.sql, { bodies: true });
      for (const match of code.matchAll(/\b(jobdeck(?:_private)?\.\w+)\s*\(/g)) {
        const required = home.get(match[1]!);
        if (required && required !== file.path && !file.requires.includes(required)) {
          missing.push(`sql/${file.path} calls ${match[1]} but does not require ${required}`);
        }
      }
    }
    expect([...new Set(missing)]).toEqual([]);
  });

  it('applies nothing when migrate runs again', async () => {
    expect(await migrate(t.pool)).toEqual({ applied: [], sql: [] });
    const { rows } = await t.pool.query<{ path: string; checksum: string }>(
      'select path, checksum from jobdeck_private.sql_files order by path',
    );
    expect(rows).toEqual(
      files
        .map((file) => ({ path: file.path, checksum: file.checksum }))
        .sort((a, b) => (a.path < b.path ? -1 : 1)),
    );
  });
});

describe('migrate() with a changed sql/ file', () => {
  let t: TestDatabase;
  let dir = '';

  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await t.drop();
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = '';
  });

  async function retryDelaySignatures(): Promise<string[]> {
    const { rows } = await t.pool.query<{ signature: string }>(
      `select p.oid::regprocedure::text as signature from pg_proc p
        where p.pronamespace = 'jobdeck_private'::regnamespace and p.proname = 'retry_delay'
        order by 1`,
    );
    return rows.map((row) => row.signature);
  }

  it('re-applies that file alone, once, even when two processes migrate at once', async () => {
    dir = await copyOfSql();
    await edit(dir, 'worker/retry_delay.sql', (sql) =>
      sql.replace('begin\n', 'begin\n  -- changed by a test\n'),
    );
    const results = await Promise.all([
      migrate(t.pool, { sqlDir: dir }),
      migrate(t.pool, { sqlDir: dir }),
    ]);
    expect(results.flatMap((result) => result.sql)).toEqual(['worker/retry_delay.sql']);
    const { rows } = await t.pool.query<{ src: string }>(
      `select prosrc as src from pg_proc where oid = 'jobdeck_private.retry_delay(jsonb, integer)'::regprocedure`,
    );
    expect(rows[0]!.src).toContain('-- changed by a test');
    expect(await migrate(t.pool, { sqlDir: dir })).toEqual({ applied: [], sql: [] });
  });

  it('refuses a new signature beside the old one, and takes it when the file drops the old', async () => {
    dir = await copyOfSql();
    await edit(dir, 'worker/retry_delay.sql', (sql) =>
      sql.replaceAll('attempt integer)', 'attempt bigint)'),
    );
    await expect(migrate(t.pool, { sqlDir: dir })).rejects.toThrow(
      /sql\/worker\/retry_delay\.sql defines jobdeck_private\.retry_delay once, but the database now has .*retry_delay\(jsonb,bigint\).*retry_delay\(jsonb,integer\).*drop the old function at the top of the file/,
    );
    expect(await retryDelaySignatures()).toEqual(['jobdeck_private.retry_delay(jsonb,integer)']);

    await edit(dir, 'worker/retry_delay.sql', (sql) =>
      sql.replace(
        'create or replace function',
        'drop function if exists jobdeck_private.retry_delay(jsonb, integer);\n\ncreate or replace function',
      ),
    );
    expect((await migrate(t.pool, { sqlDir: dir })).sql).toEqual(['worker/retry_delay.sql']);
    expect(await retryDelaySignatures()).toEqual(['jobdeck_private.retry_delay(jsonb,bigint)']);
    // Back to the shipped file: itself a signature change, so its old signature goes first.
    await t.pool.query('drop function jobdeck_private.retry_delay(jsonb, bigint)');
    expect((await migrate(t.pool)).sql).toEqual(['worker/retry_delay.sql']);
    expect(await retryDelaySignatures()).toEqual(['jobdeck_private.retry_delay(jsonb,integer)']);
  });

  it('says what to do when create or replace cannot change a return type', async () => {
    dir = await copyOfSql();
    await edit(dir, 'worker/retry_delay.sql', (sql) =>
      sql.replace('returns interval', 'returns text'),
    );
    await expect(migrate(t.pool, { sqlDir: dir })).rejects.toThrow(
      /sql\/worker\/retry_delay\.sql failed: cannot change return type of existing function: its signature changed, so the file must drop the old one first/,
    );
  });

  it('re-applies an unchanged file whose function or trigger is missing', async () => {
    await t.pool.query('drop function jobdeck.priority(text)');
    await t.pool.query('drop trigger _600_deliveries on jobdeck.jobs');
    expect((await migrate(t.pool)).sql).toEqual([
      'api/priority.sql',
      'notifications/tg_jobs__deliveries.sql',
    ]);
    const { rows } = await t.pool.query<{ n: number }>(
      `select count(*)::int as n from pg_trigger where tgname = '_600_deliveries'`,
    );
    expect(rows[0]!.n).toBe(1);
    expect(await migrate(t.pool)).toEqual({ applied: [], sql: [] });
  });

  it('warns about a function that no file defines', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    await t.pool.query(
      'create function jobdeck_private.left_behind() returns int language sql as $$ select 1 $$',
    );
    try {
      expect(await migrate(t.pool)).toEqual({ applied: [], sql: [] });
      expect(warn).toHaveBeenCalledWith(
        expect.stringContaining('jobdeck_private.left_behind has no file in sql/'),
      );
    } finally {
      await t.pool.query('drop function jobdeck_private.left_behind()');
    }
  });

  it('leaves the functions alone when a newer jobdeck applied them', async () => {
    dir = await copyOfSql();
    await edit(dir, 'worker/retry_delay.sql', (sql) =>
      sql.replace('begin\n', 'begin\n  -- an older copy of jobdeck\n'),
    );
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    await t.pool.query(
      `update jobdeck_private.sql_files set version = '999.0.0' where path = 'api/priority.sql'`,
    );
    try {
      expect(await migrate(t.pool, { sqlDir: dir })).toEqual({ applied: [], sql: [] });
      expect(warn).toHaveBeenCalledWith(
        expect.stringContaining('sql/api/priority.sql was applied by jobdeck 999.0.0'),
      );
    } finally {
      await t.pool.query(
        `update jobdeck_private.sql_files set version = '0.0.0' where path = 'api/priority.sql'`,
      );
    }
    const { rows } = await t.pool.query<{ src: string }>(
      `select prosrc as src from pg_proc where oid = 'jobdeck_private.retry_delay(jsonb, integer)'::regprocedure`,
    );
    expect(rows[0]!.src).not.toContain('an older copy');
  });
});
