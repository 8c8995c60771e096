import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import type { Job } from '../../src/db/types.ts';
import { migrate } from '../../src/db/migrate.ts';
import type { TaskRegistry } from '../../src/jobs/registry.ts';
import { defineTask } from '../../src/jobs/task.ts';
import { createTestDatabase, openApiPool, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';

/**
 * The audit's attacks on the database side (issue 18, findings 1, 3, 4 and 7), each played as the
 * attack it was: a role that reaches the database itself must get nothing beyond its rights.
 * Roles are cluster-wide, so each one made here has a name of its own and is dropped at the end.
 */

let t: TestDatabase;
let jobdeck: Jobdeck;
let api: ReturnType<typeof openApiPool>;
/** bob's job at globex, queued: what the attackers go for. */
let victim: Job;
const roles: string[] = [];
const tasks: TaskRegistry = new Map([['import_file', defineTask({ run: () => null })]]);
const suffix = `${process.pid}_${randomBytes(3).toString('hex')}`;

/** A login role of its own with a password, and a client logged in as it (closed by the caller). */
async function loginRole(name: string, options = ''): Promise<pg.Client> {
  const role = `${name}_${suffix}`;
  const password = randomBytes(12).toString('hex');
  await t.pool.query(`create role ${role} login password '${password}' ${options}`);
  roles.push(role);
  const url = new URL(t.url);
  url.username = role;
  url.password = password;
  const client = new pg.Client({ connectionString: url.toString() });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** The SQLSTATE and message of what `run` threw, or 'ok'. */
async function outcome(run: Promise<unknown>): Promise<string> {
  try {
    await run;
    return 'ok';
  } catch (error) {
    const e = error as { code?: string; message?: string };
    return `${e.code}: ${e.message}`;
  }
}

/** Takes a request's identity in the open transaction: `set local role` and the claims. */
async function actAs(
  client: pg.ClientBase,
  role: string,
  claims: { sub: string; org: string },
): Promise<void> {
  await client.query(`set local role ${role}`);
  await client.query(
    `select set_config('jwt.claims.sub', $1, true), set_config('jwt.claims.org', $2, true),
            set_config('jwt.claims.permissions', '*', true)`,
    [claims.sub, claims.org],
  );
}

async function victimStatus(): Promise<string> {
  return (await jobdeck.getJob(victim.id)).status;
}

beforeAll(async () => {
  t = await createTestDatabase();
  jobdeck = createJobdeck({ pool: t.pool });
  await registerTasks(t, tasks);
  api = openApiPool(t.url);
  victim = await jobdeck.enqueueJob(
    'import_file',
    {},
    { ownerId: 'bob', orgId: 'globex', runAt: new Date(Date.now() + 3_600_000) },
  );
  // Where planted functions report whether anything ran them, and as whom.
  await t.pool.query('create table public.pwned (who text, what text)');
  await t.pool.query('grant insert, select on public.pwned to public');
});

afterAll(async () => {
  await api?.close();
  await t?.drop();
  if (roles.length > 0) {
    // Once the database is gone, so are the privileges that would keep its roles from going.
    const admin = new pg.Client({ connectionString: inject('adminUrl') });
    await admin.connect();
    for (const role of roles) await admin.query(`drop role if exists ${role}`).catch(() => {});
    await admin.end();
  }
});

describe('functions planted in schema public (PostgreSQL 14 and older let every role create there)', () => {
  it('never run as the owner: not from the API functions, not from the worker’s retry delay', async () => {
    await t.pool.query('grant create on schema public to public');
    const mallory = await loginRole('jd_planter');
    try {
      // Overloads that beat pg_catalog's on argument types, as the audit planted them.
      await mallory.query(`
        create function public.pg_has_role(name, text, text) returns boolean language sql
          as $$ insert into public.pwned values (current_user, 'pg_has_role'); select true $$`);
      await mallory.query(`
        create function public.power(float8, integer) returns float8 language sql
          as $$ insert into public.pwned values (current_user, 'power'); select 1::float8 $$`);
      await mallory.query(`
        create function public.current_setting(text, boolean) returns text language sql
          as $$ insert into public.pwned values (current_user, 'current_setting'); select 'x' $$`);

      // mallory has no EXECUTE on jobdeck's functions any more…
      expect(await outcome(mallory.query('select jobdeck.cancel_job($1)', [victim.id]))).toMatch(
        /^42501: permission denied for (function cancel_job|schema jobdeck)/,
      );
      // …and the owner's own sessions, with the default search_path that has public on it, call
      // the functions whose bodies mallory's overloads would match.
      const owner = new pg.Client({ connectionString: t.url });
      await owner.connect();
      try {
        expect((await owner.query('show search_path')).rows[0].search_path).toContain('public');
        await owner.query(
          `select jobdeck_private.retry_delay('{"kind":"exponential","baseMs":1000,"maxMs":60000}', 3)`,
        );
        await owner.query('select jobdeck_private.caller_scope()');
        await owner.query('select jobdeck.cancel_job($1)', [
          (await jobdeck.enqueueJob('import_file', {}, {})).id,
        ]);
      } finally {
        await owner.end();
      }
      expect((await t.pool.query('select * from public.pwned')).rows).toEqual([]);
      const superuser = await t.pool.query<{ rolsuper: boolean }>(
        'select rolsuper from pg_roles where rolname = current_user',
      );
      expect(superuser.rows[0]!.rolsuper).toBe(true); // the owner here; mallory is not:
      const planter = await t.pool.query<{ rolsuper: boolean }>(
        'select rolsuper from pg_roles where rolname = $1',
        [roles.at(-1)],
      );
      expect(planter.rows[0]!.rolsuper).toBe(false);
      expect(await victimStatus()).toBe('queued');
    } finally {
      await mallory.end();
      await t.pool.query('drop function if exists public.pg_has_role(name, text, text)');
      await t.pool.query('drop function if exists public.power(float8, integer)');
      await t.pool.query('drop function if exists public.current_setting(text, boolean)');
      await t.pool.query('revoke create on schema public from public');
    }
  });

  it('pins a search path without public on every function, but for the few it inlines', async () => {
    // SQL functions that PostgreSQL inlines into their callers (a SET clause would stop that);
    // their bodies qualify every function they call (sql/ files, docs/security.md).
    const inlined = [
      'jobdeck.current_user_id()',
      'jobdeck.current_org_id()',
      'jobdeck.current_user_can(text)',
      'jobdeck.active_jobs()',
      'jobdeck.jobs_attempt_history(jobdeck.jobs)',
      'jobdeck_private.json_path(text, text)',
      'jobdeck_private.estimate_eta(timestamptz, integer, bigint)',
      'jobdeck.wait_reason(timestamptz, text)',
      'jobdeck_private.graphile_payload(uuid, bigint, text, integer, jsonb, integer, timestamptz, text, text, text, text, jsonb, text, text, text, timestamptz)',
    ];
    const { rows } = await t.pool.query<{
      fn: string;
      inlined: boolean;
      config: string[] | null;
      lang: string;
    }>(
      `select p.oid::regprocedure::text as fn, p.oid = any($1::regprocedure[]) as inlined,
              p.proconfig as config, l.lanname as lang
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         join pg_language l on l.oid = p.prolang
        where n.nspname in ('jobdeck', 'jobdeck_private')`,
      [inlined],
    );
    expect(rows.filter((row) => row.inlined)).toHaveLength(inlined.length);
    const unpinned = rows
      .filter((row) => !row.inlined)
      .filter((row) => !(row.config ?? []).includes('search_path=pg_catalog, pg_temp'))
      .map((row) => row.fn);
    expect(unpinned).toEqual([]);
    for (const row of rows.filter((r) => r.inlined)) expect(row.lang).toBe('sql');
    expect(rows.filter((row) => (row.config ?? []).some((c) => /public/.test(c)))).toEqual([]);
  });

  it('takes CREATE on public from PUBLIC when jobdeck migrates a database its user owns', async () => {
    const fresh = await createTestDatabase({ migrated: false });
    try {
      await fresh.pool.query('grant create on schema public to public');
      await migrate(fresh.pool);
      const { rows } = await fresh.pool.query<{ can: boolean }>(
        `select has_schema_privilege('public', 'public', 'create') as can`,
      );
      expect(rows[0]!.can).toBe(false);
    } finally {
      await fresh.drop();
    }
  });

  it('connects its own sessions with a search path that leaves public out', async () => {
    const { rows } = await api.pool.query<{ search_path: string }>('show search_path');
    expect(rows[0]!.search_path).toBe('pg_catalog,pg_temp');
  });
});

describe('roles outside the API (fail closed)', () => {
  it('refuses a role with USAGE on the schema: it may execute none of the functions', async () => {
    const eve = await loginRole('jd_usage');
    try {
      await t.pool.query(`grant usage on schema jobdeck to ${roles.at(-1)}`);
      for (const [sql, params] of [
        ['select jobdeck.cancel_job($1)', [victim.id]],
        ['select jobdeck.retry_job($1)', [victim.id]],
        [`select jobdeck.enqueue('import_file', '{}', owner_id => 'bob', org_id => 'globex')`, []],
        [`select jobdeck.enqueue_many('[]')`, []],
        [`select jobdeck.enqueue_job('import_file', '{}')`, []],
        ['select count(*) from jobdeck.jobs', []],
      ] as const) {
        expect(await outcome(eve.query(sql, [...params])), sql).toMatch(
          /^42501: permission denied/,
        );
      }
    } finally {
      await eve.end();
    }
    expect(await victimStatus()).toBe('queued');
  });

  it('refuses a role that was granted EXECUTE by mistake: caller_scope() is "none" for it', async () => {
    const eve = await loginRole('jd_granted');
    const role = roles.at(-1)!;
    try {
      await t.pool.query(`grant usage on schema jobdeck to ${role}`);
      await t.pool.query(`grant execute on function jobdeck.cancel_job(uuid, text) to ${role}`);
      expect(await outcome(eve.query('select jobdeck.cancel_job($1)', [victim.id]))).toBe(
        `42501: permission denied: role ${role} may not act on jobdeck jobs (grant it jobdeck_system to make it trusted; docs/security.md)`,
      );
    } finally {
      await eve.end();
    }
    expect(await victimStatus()).toBe('queued');
  });

  it('refuses a login role made a member of jobdeck_user, whatever claims it sets', async () => {
    const member = await loginRole('jd_member', 'in role jobdeck_user, jobdeck_admin');
    try {
      for (const role of ['jobdeck_user', 'jobdeck_admin']) {
        await member.query('begin');
        await actAs(member, role, { sub: 'bob', org: 'globex' });
        const seen = await member.query<{ n: number }>(
          'select count(*)::int as n from jobdeck.jobs',
        );
        expect(seen.rows[0]!.n).toBe(0);
        const who = await member.query<{ id: string | null }>(
          'select jobdeck.current_user_id() as id',
        );
        expect(who.rows[0]!.id).toBeNull();
        expect(await outcome(member.query('select jobdeck.cancel_job($1)', [victim.id]))).toMatch(
          /^42501: permission denied/,
        );
        await member.query('rollback');
      }
    } finally {
      await member.end();
    }
    expect(await victimStatus()).toBe('queued');
  });

  it('trusts a member of jobdeck_system, e.g. an application role whose trigger enqueues', async () => {
    const app = await loginRole('jd_app', 'in role jobdeck_system');
    try {
      const job = await app.query<{ id: string; owner_id: string }>(
        `select id, owner_id from jobdeck.enqueue('import_file', '{}',
                                                   owner_id => 'carol', org_id => 'acme')`,
      );
      expect(job.rows[0]!.owner_id).toBe('carol');
      const seen = await app.query<{ n: number }>(
        'select count(*)::int as n from jobdeck.jobs where id = $1',
        [job.rows[0]!.id],
      );
      expect(seen.rows[0]!.n).toBe(1);
    } finally {
      await app.end();
    }
  });
});

describe('the API’s own connections', () => {
  it('log in as jobdeck_api, never as the owner', async () => {
    const { rows } = await api.pool.query<{ session_user: string; inherit: boolean }>(
      `select session_user, (select rolinherit from pg_roles where rolname = session_user) as inherit`,
    );
    expect(rows[0]).toEqual({ session_user: 'jobdeck_api', inherit: false });
    const login = await t.pool.query<{ rolname: string; rolcanlogin: boolean }>(
      `select rolname, rolcanlogin from pg_roles
        where rolname in ('jobdeck_anonymous', 'jobdeck_user', 'jobdeck_admin', 'jobdeck_system')
        order by rolname`,
    );
    expect(login.rows.every((row) => !row.rolcanlogin)).toBe(true);
  });

  it('are nobody after SET ROLE NONE inside a request: no superuser, no jobs, no cancel', async () => {
    const client = await api.pool.connect();
    /** Runs `sql` in a request's transaction as an admin of globex who then drops the role. */
    const afterRoleNone = async (sql: string, params: unknown[] = []) => {
      await client.query('begin');
      try {
        await actAs(client, 'jobdeck_admin', { sub: 'root', org: 'globex' });
        await client.query('set local role none');
        return await client.query(sql, params);
      } finally {
        await client.query('rollback');
      }
    };
    try {
      const who = await afterRoleNone(
        `select current_user, (select rolsuper from pg_roles where rolname = current_user) as super`,
      );
      expect(who.rows[0]).toEqual({ current_user: 'jobdeck_api', super: false });
      expect(await outcome(afterRoleNone('select count(*) from jobdeck.jobs'))).toMatch(
        /^42501: permission denied/,
      );
      expect(await outcome(afterRoleNone('select jobdeck.cancel_job($1)', [victim.id]))).toMatch(
        /^42501: permission denied/,
      );
    } finally {
      client.release();
    }
    expect(await victimStatus()).toBe('queued');
  });

  it('still serve a request: an admin of globex sees and cancels bob’s job', async () => {
    const client = await api.pool.connect();
    try {
      await client.query('begin');
      await actAs(client, 'jobdeck_admin', { sub: 'root', org: 'globex' });
      const seen = await client.query<{ n: number }>(
        'select count(*)::int as n from jobdeck.jobs where id = $1',
        [victim.id],
      );
      expect(seen.rows[0]!.n).toBe(1);
      await client.query('select jobdeck.cancel_job($1)', [victim.id]);
      await client.query('rollback'); // the victim stays queued for the other tests
    } finally {
      client.release();
    }
  });
});
