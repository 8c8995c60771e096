import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { PACKAGE_ROOT } from '../paths.ts';

/**
 * The functions, trigger functions and views shipped with jobdeck: one file per object under
 * sql/<concept>/, holding its current definition with its settings, comment, grants and (for a
 * trigger function) its trigger. docs/sql.md has the rules; migrate.ts applies them.
 */
export const SQL_DIR = path.join(PACKAGE_ROOT, 'sql');

/** A function or view a sql/ file creates. */
export interface SqlObject {
  kind: 'function' | 'view';
  schema: string;
  name: string;
}

/** One file of sql/. */
export interface SqlFile {
  /** Relative to the sql/ folder, with forward slashes: `worker/finish_jobs.sql`. */
  path: string;
  sql: string;
  checksum: string;
  /** Files to apply before this one: its `-- requires:` header lines. */
  requires: string[];
  /** What it creates, schema-qualified. */
  defines: SqlObject[];
  /** The triggers it (re-)creates, as `name on schema.table`. */
  triggers: string[];
}

/** Reads every `*.sql` under `dir`, checks each, and returns them in dependency order. */
export async function readSqlFiles(dir = SQL_DIR): Promise<SqlFile[]> {
  let names: string[];
  try {
    names = await readdir(dir, { recursive: true });
  } catch (error) {
    throw new Error(`cannot read jobdeck's SQL folder ${dir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const files: SqlFile[] = [];
  for (const name of names.filter((n) => n.endsWith('.sql')).sort()) {
    const relative = name.split(path.sep).join('/');
    files.push(parseSqlFile(relative, await readFile(path.join(dir, name), 'utf8')));
  }
  return sortSqlFiles(files);
}

/**
 * Reads a file's header and what it creates, and refuses what could not be applied twice: every
 * file is re-applied whenever its text changes, so functions and views are `create or replace`
 * and a trigger is dropped (`drop trigger if exists`) before it is created.
 */
export function parseSqlFile(file: string, sql: string): SqlFile {
  const requires: string[] = [];
  for (const line of sql.split('\n')) {
    const text = line.trim();
    if (text === '') continue;
    if (!text.startsWith('--')) break; // the header ends at the first statement
    const match = /^--\s*requires:(.*)$/.exec(text);
    if (match) requires.push(...match[1]!.split(/[\s,]+/).filter(Boolean));
  }
  const code = stripSql(sql, { bodies: false });
  const defines: SqlObject[] = [];
  const triggers: string[] = [];
  const create =
    /\bcreate\s+(or\s+replace\s+)?(function|procedure|view|materialized\s+view|trigger|table|type|index|schema|sequence|policy)\s+("?[\w]+"?(?:\."?[\w]+"?)?)/gi;
  for (const match of code.matchAll(create)) {
    const kind = match[2]!.toLowerCase().replace(/\s+/g, ' ');
    const name = match[3]!.replaceAll('"', '');
    if (!['function', 'procedure', 'view', 'trigger'].includes(kind)) {
      throw new Error(
        `sql/${file}: create ${kind} ${name} belongs in a numbered migration; sql/ holds functions, trigger functions and views`,
      );
    }
    if (kind === 'trigger') {
      const drop = new RegExp(`\\bdrop\\s+trigger\\s+if\\s+exists\\s+"?${name}"?\\s+on\\b`, 'i');
      if (!drop.test(code.slice(0, match.index))) {
        throw new Error(
          `sql/${file}: trigger ${name} must be dropped first (drop trigger if exists ${name} on …): the file is re-applied whenever it changes`,
        );
      }
      const table = /^[\s\S]*?\bon\s+("?\w+"?\."?\w+"?)/i.exec(code.slice(match.index))?.[1];
      if (!table)
        throw new Error(`sql/${file}: trigger ${name} must name its table with its schema`);
      triggers.push(`${name} on ${table.replaceAll('"', '')}`);
      continue;
    }
    if (!match[1]) {
      throw new Error(
        `sql/${file}: write create or replace ${kind} ${name}: the file is re-applied whenever it changes`,
      );
    }
    const [schema, object] = name.split('.');
    if (!object) throw new Error(`sql/${file}: ${kind} ${name} must be qualified with its schema`);
    defines.push({ kind: kind === 'view' ? 'view' : 'function', schema: schema!, name: object });
  }
  if (defines.length === 0) throw new Error(`sql/${file}: creates no function or view`);
  return {
    path: file,
    sql,
    checksum: createHash('sha256').update(sql).digest('hex'),
    requires,
    defines,
    triggers,
  };
}

/**
 * Orders files so that each comes after the files it requires; among files free to go, by path,
 * so the order is the same every time. A required file that does not exist, or files that
 * require each other in a cycle, are errors that name them.
 */
export function sortSqlFiles(files: readonly SqlFile[]): SqlFile[] {
  const byPath = new Map(files.map((file) => [file.path, file]));
  for (const file of files) {
    for (const required of file.requires) {
      if (!byPath.has(required)) {
        throw new Error(
          `sql/${file.path} requires ${required}, which does not exist (paths are relative to sql/)`,
        );
      }
    }
  }
  const sorted: SqlFile[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (file: SqlFile, trail: string[]) => {
    const seen = state.get(file.path);
    if (seen === 'done') return;
    if (seen === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(file.path)), file.path];
      throw new Error(`sql/ files require each other in a cycle: ${cycle.join(' -> ')}`);
    }
    state.set(file.path, 'visiting');
    for (const required of [...file.requires].sort()) {
      visit(byPath.get(required)!, [...trail, file.path]);
    }
    state.set(file.path, 'done');
    sorted.push(file);
  };
  for (const file of [...files].sort((a, b) => (a.path < b.path ? -1 : 1))) visit(file, []);
  return sorted;
}

/**
 * The SQL text with comments and string constants blanked out, so a search of it finds only
 * code. Dollar-quoted bodies are dropped (`bodies: false`: the file's own statements) or kept
 * and cleaned the same way (`bodies: true`: everything the file runs, e.g. to find the functions
 * a PL/pgSQL body calls).
 */
export function stripSql(sql: string, options: { bodies: boolean }): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const rest = sql.slice(i, i + 2);
    if (rest === '--') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end;
    } else if (rest === '/*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
      out += ' ';
    } else if (sql[i] === "'") {
      // E'…' strings escape with a backslash; standard strings only by doubling the quote.
      const escapes = /e$/i.test(out) && !/\w$/.test(out.slice(0, -1));
      let j = i + 1;
      while (j < sql.length) {
        if (escapes && sql[j] === '\\') j += 2;
        else if (sql[j] === "'" && sql[j + 1] === "'") j += 2;
        else if (sql[j] === "'") break;
        else j++;
      }
      out += "''";
      i = j + 1;
    } else if (sql[i] === '$' && /^\$[A-Za-z_]*\$/.test(sql.slice(i))) {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i))![0];
      const end = sql.indexOf(tag, i + tag.length);
      const body = sql.slice(i + tag.length, end < 0 ? sql.length : end);
      out += options.bodies ? ` ${stripSql(body, options)} ` : ' $$ ';
      i = end < 0 ? sql.length : end + tag.length;
    } else {
      out += sql[i];
      i++;
    }
  }
  return out;
}
