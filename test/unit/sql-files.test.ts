import { describe, expect, it } from 'vitest';
import { compareVersions } from '../../src/db/migrate.ts';
import { parseSqlFile, sortSqlFiles, stripSql, type SqlFile } from '../../src/db/sql-files.ts';

function file(path: string, requires: string[] = []): SqlFile {
  const header = requires.map((r) => `-- requires: ${r}\n`).join('');
  return parseSqlFile(
    path,
    `${header}create or replace function jobdeck_private.f_${path.replace(/\W/g, '_')}() returns int language sql as $$ select 1 $$;\n`,
  );
}

describe('parseSqlFile()', () => {
  it('reads the requires header and what the file creates', () => {
    const parsed = parseSqlFile(
      'worker/finish_jobs.sql',
      [
        '-- jobdeck_private.finish_jobs(): records outcomes.',
        '-- requires: concurrency/lock_orgs.sql, worker/retry_delay.sql',
        '-- requires: concurrency/release_held.sql',
        '--',
        '-- Prose that mentions requires: is not a header line.',
        '',
        'create or replace function jobdeck_private.finish_jobs(items jsonb) returns int',
        'language plpgsql as $$ begin -- create function nothing.here()\n return 1; end $$;',
        "comment on function jobdeck_private.finish_jobs is 'create function not.this()';",
        '-- requires: not/a_header.sql',
      ].join('\n'),
    );
    expect(parsed.requires).toEqual([
      'concurrency/lock_orgs.sql',
      'worker/retry_delay.sql',
      'concurrency/release_held.sql',
    ]);
    expect(parsed.defines).toEqual([
      { kind: 'function', schema: 'jobdeck_private', name: 'finish_jobs' },
    ]);
    expect(parsed.checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a file that could not be applied a second time', () => {
    expect(() =>
      parseSqlFile(
        'a.sql',
        'create function jobdeck.f() returns int language sql as $$ select 1 $$;',
      ),
    ).toThrow('sql/a.sql: write create or replace function jobdeck.f');
    expect(() =>
      parseSqlFile(
        'b.sql',
        'create or replace function jobdeck_private.tg() returns trigger language plpgsql as $$ begin return null; end $$;\n' +
          'create trigger t after insert on jobdeck.jobs for each statement execute function jobdeck_private.tg();',
      ),
    ).toThrow('trigger t must be dropped first (drop trigger if exists t on …)');
  });

  it('accepts a trigger that is dropped before it is created', () => {
    const parsed = parseSqlFile(
      'b.sql',
      'create or replace function jobdeck_private.tg() returns trigger language plpgsql as $$ begin return null; end $$;\n' +
        'drop trigger if exists t on jobdeck.jobs;\n' +
        'create trigger t after insert on jobdeck.jobs for each statement execute function jobdeck_private.tg();',
    );
    expect(parsed.defines).toEqual([{ kind: 'function', schema: 'jobdeck_private', name: 'tg' }]);
    expect(parsed.triggers).toEqual(['t on jobdeck.jobs']);
  });

  it('sends tables, indexes and types to numbered migrations', () => {
    expect(() => parseSqlFile('c.sql', 'create table jobdeck.t (id int);')).toThrow(
      'sql/c.sql: create table jobdeck.t belongs in a numbered migration',
    );
    expect(() => parseSqlFile('d.sql', 'create index i on jobdeck.jobs (id);')).toThrow(
      'belongs in a numbered migration',
    );
  });

  it('wants every function qualified with its schema, and something created', () => {
    expect(() =>
      parseSqlFile(
        'e.sql',
        'create or replace function f() returns int language sql as $$ select 1 $$;',
      ),
    ).toThrow('function f must be qualified with its schema');
    expect(() => parseSqlFile('f.sql', '-- nothing\nselect 1;')).toThrow(
      'sql/f.sql: creates no function or view',
    );
  });
});

describe('sortSqlFiles()', () => {
  it('puts each file after the files it requires, and the rest by path', () => {
    const sorted = sortSqlFiles([
      file('b.sql', ['d/x.sql']),
      file('a.sql'),
      file('d/x.sql', ['c.sql']),
      file('c.sql'),
    ]);
    expect(sorted.map((f) => f.path)).toEqual(['a.sql', 'c.sql', 'd/x.sql', 'b.sql']);
  });

  it('names a required file that does not exist', () => {
    expect(() => sortSqlFiles([file('a.sql', ['jobs/missing.sql'])])).toThrow(
      'sql/a.sql requires jobs/missing.sql, which does not exist',
    );
  });

  it('names the files of a cycle', () => {
    expect(() =>
      sortSqlFiles([file('a.sql', ['b.sql']), file('b.sql', ['c.sql']), file('c.sql', ['a.sql'])]),
    ).toThrow('sql/ files require each other in a cycle: a.sql -> b.sql -> c.sql -> a.sql');
    expect(() => sortSqlFiles([file('a.sql', ['a.sql'])])).toThrow('a.sql -> a.sql');
  });
});

describe('stripSql()', () => {
  const sql = [
    "select 'jobdeck.not_a_call()', E'it''s \\' jobdeck.nor_this()' -- jobdeck.comment()",
    '/* jobdeck.block() */ from jobdeck.f($$ perform jobdeck.g(); -- jobdeck.h()',
    "raise 'jobdeck.i()'; $$)",
  ].join('\n');

  it('blanks comments and strings, and drops dollar-quoted bodies', () => {
    const code = stripSql(sql, { bodies: false });
    expect(code).toContain('jobdeck.f(');
    expect(code).not.toMatch(/not_a_call|nor_this|comment|block|jobdeck\.g|jobdeck\.h|jobdeck\.i/);
  });

  it('keeps the code of bodies when asked', () => {
    const code = stripSql(sql, { bodies: true });
    expect(code).toContain('jobdeck.g(');
    expect(code).not.toMatch(/jobdeck\.h|jobdeck\.i/);
  });
});

describe('compareVersions()', () => {
  it('orders versions as semver does', () => {
    const ordered = [
      '0.1.0',
      '0.1.1',
      '0.2.0-beta.2',
      '0.2.0-beta.10',
      '0.2.0-rc.1',
      '0.2.0',
      '1.0.0',
    ];
    for (let i = 0; i < ordered.length - 1; i++) {
      expect(compareVersions(ordered[i]!, ordered[i + 1]!)).toBe(-1);
      expect(compareVersions(ordered[i + 1]!, ordered[i]!)).toBe(1);
    }
    expect(compareVersions('1.2.3', '1.2.3')).toBe(0);
    expect(compareVersions('1.0.0-1', '1.0.0-alpha')).toBe(-1);
  });
});
