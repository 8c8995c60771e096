import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const HTTP = path.join(ROOT, 'src/http');

/** A string that reads as a SQL statement (or a transaction command), not as prose. */
const STATEMENT = new RegExp(
  [
    String.raw`\bselect\s[\s\S]*?\bfrom\s`,
    String.raw`^\s*select\s+[\w.*$]+\s*(\(|::|,|;|$|\s+as\s)`,
    String.raw`\binsert\s+into\s`,
    String.raw`\bupdate\s+[\w."]+\s+set\s`,
    String.raw`\bdelete\s+from\s`,
    String.raw`^\s*with\s+\w+\s+as\s*(materialized\s*)?\(`,
    String.raw`^\s*(begin|commit|rollback|start\s+transaction)\s*;?\s*$`,
    String.raw`^\s*(savepoint|release|listen|unlisten|notify|truncate|lock|vacuum|analyze)\s+["\w]+\s*;?\s*$`,
    String.raw`^\s*set\s+(local\s+|session\s+)?[\w.]+\s*(=|to)\s`,
    String.raw`^\s*(create|alter|drop)\s+(or\s+replace\s+)?(table|index|function|schema|role|trigger|view|type|extension|policy)\s`,
    String.raw`\b(set_config|pg_notify|pg_advisory_x?lock)\s*\(`,
  ].join('|'),
  'i',
);
/** Kysely's query builders and node-postgres's query call. */
const QUERY_METHODS = new Set([
  'selectFrom',
  'selectNoFrom',
  'insertInto',
  'updateTable',
  'deleteFrom',
  'mergeInto',
  'replaceInto',
  'executeQuery',
  'query',
]);

/** Each place in a TypeScript source that writes or runs SQL, as `line: what`. */
export function sqlIn(source: string, fileName = 'file.ts'): string[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const at = (node: ts.Node, what: string) =>
    found.push(`${file.getLineAndCharacterOfPosition(node.getStart()).line + 1}: ${what}`);
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      if (STATEMENT.test(node.text)) at(node, `SQL text ${JSON.stringify(node.text.slice(0, 60))}`);
    } else if (ts.isTemplateExpression(node)) {
      // the parts between the ${…}, joined with a placeholder the pattern reads as a value
      const text = [node.head.text, ...node.templateSpans.map((span) => span.literal.text)].join(
        '$1',
      );
      if (STATEMENT.test(text)) at(node, `SQL text ${JSON.stringify(text.slice(0, 60))}`);
    }
    if (ts.isTaggedTemplateExpression(node) && node.tag.getText(file) === 'sql')
      at(node, 'sql`…` template');
    if (ts.isIdentifier(node) && node.text === 'sql' && ts.isImportSpecifier(node.parent))
      at(node, "imports Kysely's sql");
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      QUERY_METHODS.has(node.expression.name.text)
    )
      at(node, `.${node.expression.name.text}(…)`);
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

async function typescriptFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

describe('src/http/', () => {
  it('writes no SQL of its own: every query goes through src/jobs/ (or src/auth/ for the caller’s identity)', async () => {
    const found: string[] = [];
    const files = await typescriptFiles(HTTP);
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      for (const place of sqlIn(await readFile(file, 'utf8'), file))
        found.push(`${path.relative(ROOT, file)}:${place}`);
    }
    expect(found).toEqual([]);
  });

  it('(the scan finds SQL written in each of the ways it looks for)', () => {
    const samples = [
      "await pool.query('select 1');",
      "const q = 'select name from jobdeck_private.migrations';",
      'const q = `select count(*)::int as n from jobdeck.jobs where status = ${s}`;',
      "const q = 'update jobdeck.jobs set progress = 1';",
      "const q = 'select * from jobdeck.retry_job($1::uuid)';",
      "const q = 'select jobdeck.cancel_job($1::uuid, $2)';",
      "await client.query('begin');",
      "import { sql } from 'kysely';",
      'await sql`select jobdeck.cancel_job(${id})`.execute(db);',
      "await db.selectFrom('jobdeck.jobs').selectAll().execute();",
      'const q = `select ${cols.join(", ")} from jobdeck.jobs`;',
    ];
    for (const sample of samples) expect(sqlIn(sample), sample).not.toEqual([]);
    const prose = [
      "const m = 'job 1 is succeeded and cannot be cancelled';",
      "reply.code(409).send({ error: 'invalid_state', message: 'select a job first' });",
      "const summary = 'Cancel a queued, running or retrying job';",
      'const q = request.query;',
      "app.delete('/api/v1/admin/jobs/:id', handler);",
      "const d = 'update the token and try again';",
    ];
    for (const sample of prose) expect(sqlIn(sample), sample).toEqual([]);
  });
});
