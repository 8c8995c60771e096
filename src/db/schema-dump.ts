import type pg from 'pg';

/** The schemas jobdeck owns; Graphile Worker's is migrated (and versioned) by Graphile Worker. */
export const DUMPED_SCHEMAS = ['jobdeck', 'jobdeck_private'] as const;

type Queryable = Pick<pg.ClientBase, 'query'>;

/**
 * A deterministic text dump of jobdeck's schemas, read from pg_catalog: schemas, types, tables
 * (columns, defaults, constraints, indexes, triggers, row-level security and its policies),
 * sequences, views, functions with their settings, comments and privileges — each sorted by name.
 *
 * It stands in for `pg_dump --schema-only`, which cannot be used here: a pg_dump older than the
 * server refuses to run, and the embedded PostgreSQL is newer than most machines' clients. The
 * owner's role name is written as `owner`, so the dump is the same whoever migrated the database.
 * NOT NULL constraints are shown on their columns only (PostgreSQL 18 also lists them in
 * pg_constraint, 15 does not), so the dump is the same on either.
 */
export async function dumpSchema(db: Queryable): Promise<string> {
  // pg_get_*def() leave out the schema of names the search path finds: with nothing on it but
  // pg_catalog, every name is written in full, whoever runs the dump.
  await db.query('begin read only');
  try {
    await db.query("select set_config('search_path', 'pg_catalog', true)");
    return await dumpSchemas(db);
  } finally {
    await db.query('rollback');
  }
}

async function dumpSchemas(db: Queryable): Promise<string> {
  const out: string[] = [
    '-- jobdeck schema dump: the jobdeck and jobdeck_private schemas of a migrated database.',
    '-- Written by `npm run schema:dump` (src/db/schema-dump.ts) from pg_catalog; do not edit by hand.',
    '-- A change to this file is a change to the database: it comes with the migration or sql/ file',
    '-- that makes it (docs/sql.md).',
  ];
  const schemas = await db.query<{ oid: number; name: string; comment: string | null }>(
    `select n.oid::int, n.nspname as name, obj_description(n.oid, 'pg_namespace') as comment
       from pg_namespace n where n.nspname = any($1) order by n.nspname collate "C"`,
    [DUMPED_SCHEMAS],
  );
  for (const schema of schemas.rows) {
    out.push('', `-- ${'='.repeat(96)}`, `create schema ${schema.name};`);
    out.push(...(await grants(db, 'n', `schema ${schema.name}`, schema.oid)));
    if (schema.comment !== null) out.push(commentOn(`schema ${schema.name}`, schema.comment));
    out.push(...(await types(db, schema.oid)));
    out.push(...(await tables(db, schema.oid)));
    out.push(...(await sequences(db, schema.oid)));
    out.push(...(await views(db, schema.oid)));
    out.push(...(await functions(db, schema.oid)));
  }
  return `${out.join('\n')}\n`;
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

function commentOn(what: string, comment: string): string {
  return `comment on ${what} is ${literal(comment)};`;
}

/**
 * Privileges as one line, from the ACL or, when it is null, PostgreSQL's default for the object
 * kind (the two mean the same). `kind` is acldefault's letter: n schema, r table, s sequence,
 * f function, T type. The owner's own privileges are shown only when they differ from the
 * default (which varies by version: PostgreSQL 17 added MAINTAIN).
 */
async function grants(db: Queryable, kind: string, what: string, oid: number): Promise<string[]> {
  const catalog: Record<string, [string, string, string]> = {
    n: ['pg_namespace', 'nspacl', 'nspowner'],
    r: ['pg_class', 'relacl', 'relowner'],
    s: ['pg_class', 'relacl', 'relowner'],
    f: ['pg_proc', 'proacl', 'proowner'],
    T: ['pg_type', 'typacl', 'typowner'],
  };
  const [table, aclColumn, ownerColumn] = catalog[kind]!;
  const { rows } = await db.query<{ line: string }>(
    `select string_agg(g.grantee || '=' || g.privileges, ' ' order by g.grantee collate "C") as line
       from (
         select case when a.grantee = 0 then 'public' when a.grantee = o.${ownerColumn} then 'owner'
                     else pg_get_userbyid(a.grantee) end
                || case when a.grantor = o.${ownerColumn} then '' else '(by ' || pg_get_userbyid(a.grantor) || ')' end
                  as grantee,
                string_agg(a.privilege_type || case when a.is_grantable then '*' else '' end, ','
                           order by a.privilege_type collate "C") as privileges
           from ${table} o, aclexplode(coalesce(o.${aclColumn}, acldefault($2::"char", o.${ownerColumn}))) a
          where o.oid = $1
            and not (a.grantee = o.${ownerColumn} and a.grantor = o.${ownerColumn}
                     and exists (select 1 from aclexplode(acldefault($2::"char", o.${ownerColumn})) d
                                  where d.grantee = a.grantee and d.privilege_type = a.privilege_type
                                    and d.is_grantable = a.is_grantable)
                     and not exists (
                       select 1 from aclexplode(acldefault($2::"char", o.${ownerColumn})) d
                        where d.grantee = o.${ownerColumn}
                          and not exists (
                            select 1 from aclexplode(coalesce(o.${aclColumn}, acldefault($2::"char", o.${ownerColumn}))) x
                             where x.grantee = d.grantee and x.grantor = d.grantor
                               and x.privilege_type = d.privilege_type and x.is_grantable = d.is_grantable)))
          group by 1
       ) g`,
    [oid, kind],
  );
  return [`-- privileges on ${what}: ${rows[0]?.line ?? 'owner only'}`];
}

async function types(db: Queryable, schema: number): Promise<string[]> {
  const out: string[] = [];
  const { rows } = await db.query<{
    oid: number;
    name: string;
    typtype: string;
    relid: number;
    comment: string | null;
  }>(
    `select t.oid::int, format('%I.%I', n.nspname, t.typname) as name, t.typtype, t.typrelid::int as relid,
            obj_description(t.oid, 'pg_type') as comment
       from pg_type t join pg_namespace n on n.oid = t.typnamespace
      where t.typnamespace = $1
        and (t.typtype in ('e', 'd', 'r', 'm')
             or (t.typtype = 'c' and (select c.relkind from pg_class c where c.oid = t.typrelid) = 'c'))
      order by t.typname collate "C"`,
    [schema],
  );
  for (const type of rows) {
    out.push('');
    if (type.typtype === 'c') {
      const columns = await db.query<{ line: string }>(
        `select format('  %I %s', a.attname, format_type(a.atttypid, a.atttypmod)) as line
           from pg_attribute a where a.attrelid = $1 and a.attnum > 0 and not a.attisdropped
          order by a.attnum`,
        [type.relid],
      );
      out.push(
        `create type ${type.name} as (`,
        columns.rows.map((row) => row.line).join(',\n'),
        ');',
      );
    } else if (type.typtype === 'e') {
      const labels = await db.query<{ label: string }>(
        'select e.enumlabel as label from pg_enum e where e.enumtypid = $1 order by e.enumsortorder',
        [type.oid],
      );
      out.push(
        `create type ${type.name} as enum (${labels.rows.map((row) => literal(row.label)).join(', ')});`,
      );
    } else if (type.typtype === 'd') {
      const domain = await db.query<{ line: string }>(
        `select format_type(t.typbasetype, t.typtypmod)
                || case when t.typnotnull then ' not null' else '' end
                || coalesce(' default ' || t.typdefault, '')
                || coalesce((select string_agg(' constraint ' || quote_ident(c.conname) || ' ' || pg_get_constraintdef(c.oid),
                                               '' order by c.conname collate "C")
                               from pg_constraint c where c.contypid = t.oid and c.contype <> 'n'), '') as line
           from pg_type t where t.oid = $1`,
        [type.oid],
      );
      out.push(`create domain ${type.name} as ${domain.rows[0]!.line};`);
    } else {
      out.push(`-- type ${type.name} (kind ${type.typtype})`);
    }
    out.push(...(await grants(db, 'T', `type ${type.name}`, type.oid)));
    if (type.comment !== null) out.push(commentOn(`type ${type.name}`, type.comment));
  }
  return out;
}

async function tables(db: Queryable, schema: number): Promise<string[]> {
  const out: string[] = [];
  const { rows } = await db.query<{
    oid: number;
    name: string;
    options: string | null;
    rls: boolean;
    force_rls: boolean;
    partitioned: boolean;
    partition_of: string | null;
    comment: string | null;
  }>(
    `select c.oid::int, format('%I.%I', n.nspname, c.relname) as name,
            array_to_string(c.reloptions, ', ') as options, c.relrowsecurity as rls,
            c.relforcerowsecurity as force_rls, c.relkind = 'p' as partitioned,
            case when c.relispartition
                 then (select i.inhparent::regclass::text from pg_inherits i where i.inhrelid = c.oid)
                      || ' ' || pg_get_expr(c.relpartbound, c.oid) end as partition_of,
            obj_description(c.oid, 'pg_class') as comment
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relnamespace = $1 and c.relkind in ('r', 'p')
      order by c.relname collate "C"`,
    [schema],
  );
  for (const table of rows) {
    // A partition has its parent's columns, constraints and indexes: its bounds say what it is.
    if (table.partition_of) {
      out.push(
        '',
        `create table ${table.name} partition of ${table.partition_of}${table.options ? ` with (${table.options})` : ''};`,
      );
      if (table.rls) out.push(`alter table ${table.name} enable row level security;`);
      if (table.force_rls) out.push(`alter table ${table.name} force row level security;`);
      out.push(...(await relationDetails(db, table.oid, table.name, 'table')));
      continue;
    }
    const columns = await db.query<{ line: string }>(
      `select format('  %I %s', a.attname, format_type(a.atttypid, a.atttypmod))
              || case when a.attcollation <> t.typcollation
                      then ' collate ' || (select quote_ident(co.collname) from pg_collation co where co.oid = a.attcollation)
                      else '' end
              || case a.attidentity when 'a' then ' generated always as identity'
                                    when 'd' then ' generated by default as identity' else '' end
              || case when a.attgenerated = 's' then ' generated always as (' || pg_get_expr(d.adbin, d.adrelid) || ') stored'
                      when d.adbin is not null then ' default ' || pg_get_expr(d.adbin, d.adrelid) else '' end
              || case when a.attnotnull then ' not null' else '' end as line
         from pg_attribute a
         join pg_type t on t.oid = a.atttypid
         left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where a.attrelid = $1 and a.attnum > 0 and not a.attisdropped
        order by a.attnum`,
      [table.oid],
    );
    // contype 'n': PostgreSQL 18's NOT NULL constraints, already shown on their columns.
    const constraints = await db.query<{ line: string }>(
      `select format('  constraint %I %s', c.conname, pg_get_constraintdef(c.oid)) as line
         from pg_constraint c where c.conrelid = $1 and c.contype <> 'n'
        order by c.conname collate "C"`,
      [table.oid],
    );
    out.push(
      '',
      `create table ${table.name} (`,
      [...columns.rows, ...constraints.rows].map((row) => row.line).join(',\n'),
      `)${table.partitioned ? ' partitioned' : ''}${table.options ? ` with (${table.options})` : ''};`,
    );
    if (table.rls) out.push(`alter table ${table.name} enable row level security;`);
    if (table.force_rls) out.push(`alter table ${table.name} force row level security;`);
    out.push(...(await relationDetails(db, table.oid, table.name, 'table')));
  }
  return out;
}

/** Indexes, triggers, policies, comments and privileges of a table or view. */
async function relationDetails(
  db: Queryable,
  oid: number,
  name: string,
  kind: 'table' | 'view' | 'materialized view',
): Promise<string[]> {
  const out: string[] = [];
  const indexes = await db.query<{ line: string }>(
    `select pg_get_indexdef(i.indexrelid) || ';'
            || coalesce(E'\\n' || 'comment on index ' || i.indexrelid::regclass::text || ' is '
                        || quote_literal(obj_description(i.indexrelid, 'pg_class')) || ';', '') as line
       from pg_index i join pg_class c on c.oid = i.indexrelid
      where i.indrelid = $1 and not c.relispartition order by c.relname collate "C"`,
    [oid],
  );
  const triggers = await db.query<{ line: string }>(
    `select pg_get_triggerdef(t.oid) || ';'
            || case t.tgenabled when 'O' then ''
                 else E'\\n-- trigger ' || t.tgname || ' enabled: ' || t.tgenabled::text end as line
       from pg_trigger t where t.tgrelid = $1 and not t.tgisinternal
      order by t.tgname collate "C"`,
    [oid],
  );
  const policies = await db.query<{ line: string }>(
    `select format('create policy %I on %s', p.polname, $2::text)
            || case when p.polpermissive then '' else ' as restrictive' end
            || ' for ' || case p.polcmd when 'r' then 'select' when 'a' then 'insert' when 'w' then 'update'
                                      when 'd' then 'delete' else 'all' end
            || ' to ' || coalesce((select string_agg(case when r = 0 then 'public' else quote_ident(pg_get_userbyid(r)) end,
                                                     ', ' order by case when r = 0 then 'public' else pg_get_userbyid(r) end collate "C")
                                     from unnest(p.polroles) r), 'public')
            || coalesce(' using (' || pg_get_expr(p.polqual, p.polrelid) || ')', '')
            || coalesce(' with check (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')', '') || ';' as line
       from pg_policy p where p.polrelid = $1 order by p.polname collate "C"`,
    [oid, name],
  );
  const comments = await db.query<{ line: string }>(
    `select * from (
       select 0 as ord, '' as sub, 'comment on ' || $3::text || ' ' || $2::text || ' is '
              || quote_literal(obj_description($1, 'pg_class')) || ';' as line
        where obj_description($1, 'pg_class') is not null
       union all
       select 1, a.attname, format('comment on column %s.%I is %L;', $2::text, a.attname, d.description)
         from pg_attribute a join pg_description d
           on d.objoid = a.attrelid and d.classoid = 'pg_class'::regclass and d.objsubid = a.attnum
        where a.attrelid = $1 and a.attnum > 0 and not a.attisdropped
       union all
       select 2, c.conname, format('comment on constraint %I on %s is %L;', c.conname, $2::text, d.description)
         from pg_constraint c join pg_description d on d.objoid = c.oid and d.classoid = 'pg_constraint'::regclass
        where c.conrelid = $1
     ) x order by x.ord, x.sub collate "C"`,
    [oid, name, kind],
  );
  for (const query of [indexes, triggers, policies, comments]) {
    out.push(...query.rows.map((row) => row.line));
  }
  out.push(...(await grants(db, 'r', `${kind} ${name}`, oid)));
  return out;
}

async function sequences(db: Queryable, schema: number): Promise<string[]> {
  const { rows } = await db.query<{ oid: number; name: string; line: string }>(
    `select c.oid::int, format('%I.%I', n.nspname, c.relname) as name,
            format('create sequence %I.%I as %s increment %s minvalue %s maxvalue %s start %s cache %s%s;',
                   n.nspname, c.relname, format_type(s.seqtypid, null), s.seqincrement, s.seqmin, s.seqmax,
                   s.seqstart, s.seqcache, case when s.seqcycle then ' cycle' else '' end)
            || coalesce((select format(E'\\n-- owned by %s.%I%s', d.refobjid::regclass::text, a.attname,
                                       case d.deptype when 'i' then ' (identity)' else '' end)
                           from pg_depend d
                           join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
                          where d.classid = 'pg_class'::regclass and d.objid = c.oid
                            and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')), '') as line
       from pg_class c join pg_namespace n on n.oid = c.relnamespace join pg_sequence s on s.seqrelid = c.oid
      where c.relnamespace = $1 and c.relkind = 'S'
      order by c.relname collate "C"`,
    [schema],
  );
  return eachRow(rows, async (row) => [
    row.line,
    ...(await grants(db, 's', `sequence ${row.name}`, row.oid)),
  ]);
}

/** Each row's lines, a blank line before each; one row at a time (`lines` may query). */
async function eachRow<R>(
  rows: readonly R[],
  lines: (row: R) => Promise<string[]>,
): Promise<string[]> {
  const out: string[] = [];
  for (const row of rows) out.push('', ...(await lines(row)));
  return out;
}

async function views(db: Queryable, schema: number): Promise<string[]> {
  const { rows } = await db.query<{
    oid: number;
    name: string;
    materialized: boolean;
    options: string | null;
    definition: string;
  }>(
    `select c.oid::int, format('%I.%I', n.nspname, c.relname) as name, c.relkind = 'm' as materialized,
            array_to_string(c.reloptions, ', ') as options, pg_get_viewdef(c.oid) as definition
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relnamespace = $1 and c.relkind in ('v', 'm')
      order by c.relname collate "C"`,
    [schema],
  );
  return eachRow(rows, async (view) => {
    const kind = view.materialized ? 'materialized view' : 'view';
    return [
      `create ${kind} ${view.name}${view.options ? ` with (${view.options})` : ''} as`,
      view.definition,
      ...(await relationDetails(db, view.oid, view.name, kind)),
    ];
  });
}

async function functions(db: Queryable, schema: number): Promise<string[]> {
  const { rows } = await db.query<{
    oid: number;
    signature: string;
    kind: string;
    definition: string | null;
    comment: string | null;
  }>(
    `select p.oid::int, format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) as signature,
            p.prokind as kind,
            case when p.prokind in ('f', 'p', 'w') then pg_get_functiondef(p.oid) end as definition,
            obj_description(p.oid, 'pg_proc') as comment
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where p.pronamespace = $1
      order by p.proname collate "C", pg_get_function_identity_arguments(p.oid) collate "C"`,
    [schema],
  );
  return eachRow(rows, async (fn) => {
    const what = `${fn.kind === 'p' ? 'procedure' : fn.kind === 'a' ? 'aggregate' : 'function'} ${fn.signature}`;
    return [
      fn.definition === null ? `-- ${what}` : `${fn.definition.trimEnd()};`,
      ...(fn.comment !== null ? [commentOn(what, fn.comment)] : []),
      ...(await grants(db, 'f', what, fn.oid)),
    ];
  });
}
