import type pg from 'pg';
import { PgListener } from '../live/listener.ts';
import type { Logger } from '../logger.ts';
import {
  apiUserUrl,
  ensureApiLogin,
  managedApiPassword,
  ownerPassword,
  readFallbackSecret,
} from './api-login.ts';
import {
  createListenSplitPool,
  createPool,
  SAFE_SEARCH_PATH,
  type ListenSplitPool,
} from './pool.ts';

/**
 * What a process runs. It decides which connections the process opens and how many
 * (docs/connections.md); `jobdeck start` runs a worker and the server, `jobdeck worker` a worker,
 * `jobdeck serve` the server, `jobdeck migrate` none of them, `createJobdeck` a client.
 */
export interface ProcessParts {
  /** A worker running this many jobs at once. */
  worker?: { concurrency: number } | undefined;
  /** The HTTP API: GraphQL, REST, event streams, health and metrics. */
  server?: boolean | undefined;
  /** A library client (`createJobdeck`): enqueues, reads, cancels, `watchJob`. */
  client?: boolean | undefined;
}

/** One pool: its size and what pg_stat_activity calls its connections. */
export interface PoolPlan {
  max: number;
  applicationName: string;
  /**
   * The search_path its connections set; unset keeps the server's default. Set on the pools only
   * jobdeck's own code uses (docs/security.md); Graphile Worker's pool also runs the tasks'
   * `helpers.query`, and a client's pool its caller's queries, which may name tables unqualified.
   */
  searchPath?: string;
}

/** The connections of a process, as {@link planConnections} decides them. */
export interface ConnectionPlan {
  /** Graphile Worker's own pool (it locks jobs, fetches, completes, and LISTENs on one of them). */
  graphileWorker: PoolPlan | null;
  /**
   * As the connection string's user (the owner, for jobdeck's own commands): migrations and task
   * types at start, the tracker's writes, the worker's services, `/metrics` and `/readyz`; a
   * client's queries.
   */
  main: PoolPlan;
  /**
   * Logs in as role jobdeck_api (never as the owner), under row-level security: GraphQL, REST
   * and event streams (docs/security.md).
   */
  api: PoolPlan | null;
  /** One LISTEN connection, shared by the worker's cancels and the API's live changes. */
  listener: boolean;
}

/**
 * Each part's share of the connections. The sizes are those each part was given on its own before
 * they shared pools; a process's pool is the sum of the shares of the parts it runs.
 */
export const CONNECTION_SHARES = {
  /**
   * Graphile Worker's pool, beyond one connection per concurrent job: its LISTEN, its fetches and
   * batched completions, and slack for tasks that use `helpers.withPgClient` (Graphile Worker asks
   * for at least concurrency + 2).
   */
  graphileWorkerExtra: 4,
  /**
   * The worker's part of the main pool: the tracker's five write lanes (starts, running marks,
   * progress, log lines, finishes; one statement in flight each) and the worker's services, which
   * take turns (src/worker/service-runner.ts).
   */
  worker: 6,
  /** The server's part of the main pool: `/metrics` and `/readyz` need the owner's rights. */
  server: 3,
  /** The API pool (logged in as jobdeck_api): PostGraphile, REST and event streams. */
  api: 10,
  /** A library client: its caller's queries side by side (node-postgres's default). */
  client: 10,
  /** A process that runs none of the parts (`jobdeck migrate`): migrate takes two at once. */
  migrate: 3,
} as const;

/** Decides the pools and LISTEN connection of a process from the parts it runs. */
export function planConnections(parts: ProcessParts): ConnectionPlan {
  const { worker, server = false, client = false } = parts;
  const mainMax =
    (worker ? CONNECTION_SHARES.worker : 0) +
    (server ? CONNECTION_SHARES.server : 0) +
    (client ? CONNECTION_SHARES.client : 0);
  const only = !worker && !server;
  return {
    graphileWorker: worker
      ? {
          max: worker.concurrency + CONNECTION_SHARES.graphileWorkerExtra,
          applicationName: 'jobdeck-worker',
        }
      : null,
    main: {
      max: mainMax || CONNECTION_SHARES.migrate,
      applicationName: only ? (client ? 'jobdeck-client' : 'jobdeck-migrate') : 'jobdeck-main',
      // Only the worker's and the server's own code uses it then (migrate keeps the default).
      ...(only || client ? {} : { searchPath: SAFE_SEARCH_PATH }),
    },
    api: server
      ? { max: CONNECTION_SHARES.api, applicationName: 'jobdeck-api', searchPath: SAFE_SEARCH_PATH }
      : null,
    listener: Boolean(worker) || server || client,
  };
}

/** Options of {@link openConnections}. */
export interface OpenConnectionsOptions {
  /** Needed for every connection jobdeck opens itself (all but a `main` pool given here). */
  connectionString?: string | undefined;
  /**
   * How the API pool logs in (`JOBDECK_API_DATABASE_URL`): a role a DBA set up as jobdeck_api.
   * Unset, the API logs in as jobdeck_api with a password jobdeck manages (src/db/api-login.ts).
   */
  apiConnectionString?: string | undefined;
  /**
   * A direct connection to PostgreSQL (`DATABASE_LISTEN_URL`), for when `connectionString` leads
   * to a transaction pooler (docs/connections.md, "Behind PgBouncer"): the LISTEN connection,
   * Graphile Worker's LISTEN client and migrations (which hold a session-level advisory lock)
   * use it, and the pools on `connectionString` avoid what a transaction pooler cannot carry
   * (named prepared statements, startup `options`). Unset, everything uses `connectionString`.
   */
  listenConnectionString?: string | undefined;
  /**
   * A hot standby of the database (`JOBDECK_REPLICA_URL`): the API's reads that need not see the
   * caller's own writes at once run there ({@link Connections.apiReads}), logged in as
   * jobdeck_api the way the API pool logs in on the primary (a physical replica has the same
   * roles and passwords). Only its host, port, database and TLS settings are used.
   */
  replicaConnectionString?: string | undefined;
  /** An existing pool to use as the main pool (a client's caller's); never ended by `close()`. */
  main?: pg.Pool | undefined;
  /** Where the LISTEN connection reports losing its server. */
  logger?: Logger | undefined;
}

/**
 * The pools and LISTEN connection of one process, made as its {@link ConnectionPlan} says, each
 * when first used (a pool or listener opens no connection before its first query either).
 * Whoever opened them closes them, once every part that uses them has stopped.
 */
export class Connections {
  readonly plan: ConnectionPlan;
  readonly #options: OpenConnectionsOptions;
  #main: pg.Pool | null;
  #graphileWorker: pg.Pool | null = null;
  #api: pg.Pool | null = null;
  #apiReplica: pg.Pool | null = null;
  #direct: pg.Pool | null = null;
  #graphileWorkerListen: pg.Pool | null = null;
  #listener: PgListener | null = null;
  #apiPassword: Promise<string> | null = null;
  #closing: Promise<void> | null = null;

  constructor(plan: ConnectionPlan, options: OpenConnectionsOptions) {
    this.plan = plan;
    this.#options = options;
    this.#main = options.main ?? null;
  }

  /** The connection string jobdeck connects with, when it has one. */
  get connectionString(): string | undefined {
    return this.#options.connectionString;
  }

  /** Whether `connectionString` leads to a transaction pooler (a direct URL was given beside it). */
  get pooled(): boolean {
    return Boolean(this.#options.listenConnectionString);
  }

  get main(): pg.Pool {
    return (this.#main ??= this.#pool(this.plan.main));
  }

  /**
   * A pool for work that needs its session kept between transactions: migrations (their
   * session-level advisory lock). The main pool, unless it goes through a transaction pooler;
   * then a pool of its own on the direct connection, opened when first used.
   */
  get session(): pg.Pool {
    const direct = this.#options.listenConnectionString;
    if (!direct) return this.main;
    if (this.#closing) throw new Error('the connections are closed');
    return (this.#direct ??= createPool(direct, {
      max: CONNECTION_SHARES.migrate,
      applicationName: 'jobdeck-migrate',
    }));
  }

  /**
   * Graphile Worker's pool; only in a process that runs a worker. Behind a transaction pooler its
   * one LISTEN client comes from the direct connection ({@link ListenSplitPool}).
   */
  get graphileWorker(): pg.Pool | ListenSplitPool {
    if (this.#graphileWorker) return this.#graphileWorker;
    const plan = this.#planned(this.plan.graphileWorker, 'worker');
    const direct = this.#options.listenConnectionString;
    if (!direct) return (this.#graphileWorker = this.#pool(plan));
    if (this.#closing) throw new Error('the connections are closed');
    // Two: Graphile Worker may ask for a new LISTEN client before the old one is back.
    const listen = (this.#graphileWorkerListen = createPool(direct, {
      max: 2,
      applicationName: `${plan.applicationName}-listen`,
    }));
    return (this.#graphileWorker = createListenSplitPool(
      this.#needConnectionString(),
      { ...plan, pooled: true },
      listen,
    ));
  }

  /** The API's pool (logged in as jobdeck_api); only in a process that runs the server. */
  get api(): pg.Pool {
    return (this.#api ??= this.#makeApiPool(this.#planned(this.plan.api, 'server')));
  }

  /**
   * Where the API reads what may be a little behind (GraphQL queries, REST GET routes): a pool
   * on the replica, logged in as jobdeck_api, sized as the API pool, when `JOBDECK_REPLICA_URL`
   * is set; the API pool otherwise. Never for LISTEN, writes, or reads that must see a write just
   * made (docs/connections.md, "Read replicas").
   */
  get apiReads(): pg.Pool {
    const replica = this.#options.replicaConnectionString;
    if (!replica) return this.api;
    if (this.#apiReplica) return this.#apiReplica;
    const plan = this.#planned(this.plan.api, 'server');
    return (this.#apiReplica = this.#makeApiPool(
      { ...plan, applicationName: `${plan.applicationName}-replica` },
      replica,
    ));
  }

  /** The process's one LISTEN connection. */
  get listener(): PgListener {
    if (!this.plan.listener) throw new Error('this process has no LISTEN connection planned');
    if (this.#closing && !this.#listener) throw new Error('the connections are closed');
    const { logger } = this.#options;
    return (this.#listener ??= new PgListener(
      this.#options.listenConnectionString ?? this.#needConnectionString(),
      logger ? { logger } : {},
    ));
  }

  /** Closes the listener, then every pool made here. Safe to call more than once. */
  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      await this.#listener?.close();
      const own = [
        this.#graphileWorker,
        this.#api,
        this.#apiReplica,
        this.#options.main ? null : this.#main,
      ];
      await Promise.allSettled(own.map((pool) => pool?.end()));
      // After Graphile Worker's pool: its LISTEN client goes back to this one as it ends.
      const direct = [this.#graphileWorkerListen, this.#direct];
      await Promise.allSettled(direct.map((pool) => pool?.end()));
    })());
  }

  #pool(plan: PoolPlan): pg.Pool {
    if (this.#closing) throw new Error('the connections are closed');
    return createPool(this.#needConnectionString(), { ...plan, pooled: this.pooled });
  }

  /**
   * A pool logged in as jobdeck_api: on the primary, or at `at` (the replica) with the same user
   * and password. The managed password is always set through the primary, which a replica
   * cannot be written to and copies from.
   */
  #makeApiPool(plan: PoolPlan, at?: string): pg.Pool {
    if (this.#closing) throw new Error('the connections are closed');
    // A deployment with a pooler before the primary likely has one before its replica too;
    // what `pooled` leaves out (named statements, startup options) is safe to leave out anyway.
    const pooled = this.pooled;
    const explicit = this.#options.apiConnectionString;
    if (explicit) return createPool(at ? sameLoginAt(explicit, at) : explicit, { ...plan, pooled });
    const url = apiUserUrl(this.#needConnectionString());
    return createPool(at ? sameLoginAt(url, at) : url, {
      ...plan,
      pooled,
      password: () => (this.#apiPassword ??= this.#ensureApiPassword(url)),
    });
  }

  /** The managed password of jobdeck_api, set on the role first if it does not have it yet. */
  async #ensureApiPassword(url: string): Promise<string> {
    try {
      const owner = this.#needConnectionString();
      const fallback = ownerPassword(owner) ? undefined : await readFallbackSecret(this.main);
      const password = managedApiPassword(owner, fallback);
      await ensureApiLogin(this.main, url, password);
      return password;
    } catch (error) {
      this.#apiPassword = null; // the next connection tries again
      throw error;
    }
  }

  #planned(plan: PoolPlan | null, part: string): PoolPlan {
    if (!plan) throw new Error(`this process does not run the ${part}: it has no pool for it`);
    return plan;
  }

  #needConnectionString(): string {
    const { connectionString } = this.#options;
    if (!connectionString) throw new Error('jobdeck needs a connection string to connect');
    return connectionString;
  }
}

/** `login`'s user and password at the server and database `at` names (with `at`'s parameters). */
function sameLoginAt(login: string, at: string): string {
  const from = new URL(login);
  const url = new URL(at);
  url.username = from.username;
  url.password = from.password;
  return url.toString();
}

/** The connections of a process that runs `parts` (none is opened before it is used). */
export function openConnections(parts: ProcessParts, options: OpenConnectionsOptions): Connections {
  return new Connections(planConnections(parts), options);
}
