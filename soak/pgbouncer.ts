import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { API_ROLE, managedApiPassword } from '../src/db/api-login.ts';
import { freePort } from '../src/db/embedded.ts';

/** Debian's PgBouncer (`.ci/run` installs it when missing); PGBOUNCER_PATH overrides. */
export const PGBOUNCER = process.env['PGBOUNCER_PATH'] ?? '/usr/sbin/pgbouncer';

/** Whether PgBouncer is installed here. */
export const havePgBouncer = existsSync(PGBOUNCER);

/**
 * A PgBouncer process in transaction pooling mode in front of one database, started by a test
 * (test/helpers/pgbouncer.ts) or by the soak (`npm run soak`).
 */
export interface PgBouncer {
  /** The database's URL with PgBouncer's address: what DATABASE_URL is set to behind it. */
  url: string;
  /** The admin console (database `pgbouncer`), as the database's owner. */
  adminUrl: string;
  /** A row per client connection (`SHOW CLIENTS`): user, database, application_name, … */
  clients(): Promise<Record<string, string>[]>;
  /** Transactions PgBouncer has passed to the database so far (`SHOW STATS`, total_xact_count). */
  transactions(): Promise<number>;
  /** What PgBouncer has logged. */
  log(): string;
  stop(): Promise<void>;
}

export interface PgBouncerOptions {
  /** Server connections per user and database (`default_pool_size`); 20 unless given. */
  poolSize?: number;
  /** Client connections it accepts (`max_client_conn`); 500 unless given. */
  maxClients?: number;
}

/** A quoted entry of PgBouncer's auth_file. */
function authLine(user: string, password: string): string {
  return `"${user.replaceAll('"', '""')}" "${password.replaceAll('"', '""')}"`;
}

/** Calls `check` until it resolves, for up to `timeoutMs`; the last error names what failed. */
async function answered(check: () => Promise<unknown>, what: () => string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what()}: ${(error as Error).message}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Starts PgBouncer on a free port in front of the database of `directUrl`, with
 * `pool_mode = transaction`, knowing two users: the database's owner (from the URL) and
 * jobdeck_api with the password jobdeck manages for it (src/db/api-login.ts). Clients are trusted;
 * PgBouncer logs in to PostgreSQL with the passwords of its auth_file. PgBouncer refuses to run
 * as root: as root it runs as `nobody` (through setpriv), with its files in a folder anyone may read.
 */
export async function startPgBouncer(
  directUrl: string,
  options: PgBouncerOptions = {},
): Promise<PgBouncer> {
  const direct = new URL(directUrl);
  const database = direct.pathname.slice(1);
  const owner = decodeURIComponent(direct.username);
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'jobdeck-pgbouncer-'));
  chmodSync(dir, 0o755);
  const file = (name: string, text: string) => {
    const full = path.join(dir, name);
    writeFileSync(full, text, { mode: 0o644 });
    return full;
  };
  const users = file(
    'users.txt',
    [
      authLine(owner, decodeURIComponent(direct.password)),
      authLine(API_ROLE, managedApiPassword(directUrl)),
      '',
    ].join('\n'),
  );
  const ini = file(
    'pgbouncer.ini',
    `[databases]
${database} = host=${direct.hostname} port=${direct.port || 5432} dbname=${database}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${users}
admin_users = ${owner}
pool_mode = transaction
default_pool_size = ${options.poolSize ?? 20}
max_client_conn = ${options.maxClients ?? 500}
server_login_retry = 1
`,
  );
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const child: ChildProcess = asRoot
    ? // setpriv execs PgBouncer itself: the signals stop() sends reach it.
      spawn('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', PGBOUNCER, ini], {
        stdio: 'pipe',
      })
    : spawn(PGBOUNCER, [ini], { stdio: 'pipe' });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const url = new URL(directUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  const adminUrl = new URL(url);
  adminUrl.pathname = '/pgbouncer';
  const admin = async <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: adminUrl.toString() });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  };
  const show = (what: string) =>
    // The admin console speaks only the simple query protocol: no parameters.
    admin(async (client) => (await client.query<Record<string, string>>(`show ${what}`)).rows);
  let stopped: Promise<void> | null = null;
  const stop = () =>
    (stopped ??= (async () => {
      // SIGTERM: shut down at once (SIGINT would wait for clients' transactions).
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    })());
  try {
    await answered(
      () => show('version'),
      () => `PgBouncer to answer on ${port}: ${output}`,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: url.toString(),
    adminUrl: adminUrl.toString(),
    clients: () => show('clients'),
    async transactions() {
      const row = (await show('stats')).find((stats) => stats['database'] === database);
      return Number(row?.['total_xact_count'] ?? 0);
    },
    log: () => output,
    stop,
  };
}
