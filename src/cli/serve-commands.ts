import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import { openConnections, type Connections } from '../db/connections.ts';
import { openDatabase, redactUrl } from '../db/connect.ts';
import { credentialsPath } from '../db/embedded.ts';
import { migrate } from '../db/migrate.ts';
import { loadTasks, registerTaskTypes } from '../jobs/registry.ts';
import type { JobdeckServer } from '../http/server.ts';
import { createLogger } from '../logger.ts';
import { readCrontab, runWorker, type JobdeckWorker } from '../worker/runner.ts';
import { MissingPathError } from './usage.ts';

/**
 * The configuration with `--tasks` / `--crontab` applied (relative to the working directory),
 * checked before any database is opened: the tasks folder must exist, and so must a crontab
 * named on the command line (one named by JOBDECK_CRONTAB may be missing: no schedules).
 *
 * @throws MissingPathError naming the folder or file that is not there.
 */
export function withPathFlags(
  config: Config,
  flags: { tasksDir?: string; crontabFile?: string },
): Config {
  const resolved = {
    ...config,
    ...(flags.tasksDir !== undefined ? { tasksDir: path.resolve(flags.tasksDir) } : {}),
    ...(flags.crontabFile !== undefined ? { crontabFile: path.resolve(flags.crontabFile) } : {}),
  };
  const from = flags.tasksDir !== undefined ? '--tasks' : 'JOBDECK_TASKS_DIR, default ./tasks';
  if (!isFolder(resolved.tasksDir))
    throw new MissingPathError(
      `the tasks folder ${resolved.tasksDir} (${from}) ${existsSync(resolved.tasksDir) ? 'is not a folder' : 'does not exist'}; create it, or run \`jobdeck init\``,
      resolved.tasksDir,
    );
  if (flags.crontabFile !== undefined && !existsSync(resolved.crontabFile))
    throw new MissingPathError(
      `the crontab ${resolved.crontabFile} (--crontab) does not exist`,
      resolved.crontabFile,
    );
  return resolved;
}

function isFolder(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Applies migrations (on the session pool: the main pool, or the direct connection behind a
 * transaction pooler) and registers the task types on the main pool (the only place a command
 * does); shared by every long-running command.
 */
async function prepare(config: Config, connections: Connections) {
  const result = await migrate(connections.session);
  const tasks = await loadTasks(config.tasksDir);
  await registerTaskTypes(connections.main, tasks, config);
  return { applied: result.applied, sql: result.sql, tasks };
}

/** `jobdeck migrate`. */
export async function runMigrate(config: Config): Promise<number> {
  const logger = createLogger(config.logLevel);
  const database = await openDatabase(config, logger);
  const connections = openConnections(
    {},
    { connectionString: database.url, listenConnectionString: config.databaseListenUrl, logger },
  );
  try {
    const { applied, sql, tasks } = await prepare(config, connections);
    const changes = [
      ...applied,
      ...(sql.length > 0 ? [`${sql.length} sql/ file${sql.length === 1 ? '' : 's'}`] : []),
    ];
    // The worker would refuse a schedule naming an unknown task at its start; say so now.
    const schedules = readCrontab(config.crontabFile, tasks)
      .split('\n')
      .filter((line) => /^\s*[^#\s]/.test(line)).length;
    const crontab = existsSync(config.crontabFile)
      ? `${schedules} ${schedules === 1 ? 'schedule' : 'schedules'} in ${config.crontabFile}`
      : 'no crontab';
    process.stdout.write(
      `${changes.length === 0 ? 'database is up to date' : `applied ${changes.join(', ')}`}; ${tasks.size} task types registered; ${crontab}\n`,
    );
    return 0;
  } finally {
    await connections.close();
    await database.close();
  }
}

/**
 * `jobdeck start` / `worker` / `serve`: database (embedded when DATABASE_URL is unset),
 * migrations, then the worker and/or the HTTP server; runs until SIGINT/SIGTERM, then shuts down
 * in order: the server stops taking requests, the worker lets running jobs finish and writes
 * their outcome, then the embedded database stops.
 */
export async function runStart(
  config: Config,
  options: { worker: boolean; server: boolean; label: string },
): Promise<number> {
  const logger = createLogger(config.logLevel);
  // Before anything that may start a span; loaded only when on.
  const stopTracing = config.otel
    ? await (await import('../telemetry/setup.ts')).startTracing(logger)
    : null;
  const database = await openDatabase(config, logger);
  // One set of pools and one LISTEN connection for the whole process, sized for what it runs.
  const connections: Connections = openConnections(
    {
      worker: options.worker ? { concurrency: config.concurrency } : undefined,
      server: options.server,
    },
    {
      connectionString: database.url,
      apiConnectionString: config.apiDatabaseUrl,
      listenConnectionString: config.databaseListenUrl,
      replicaConnectionString: config.replicaUrl,
      logger,
    },
  );
  let worker: JobdeckWorker | null = null;
  let server: JobdeckServer | null = null;
  let stopping = false;
  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${reason}: shutting down`);
    try {
      await server?.close();
    } finally {
      try {
        await worker?.stop();
      } finally {
        await connections.close();
        await database.close();
        await stopTracing?.();
      }
    }
  };
  const stopped = new Promise<number>((resolve) => {
    const onSignal = (signal: string) => {
      if (stopping) {
        logger.warn(`${signal} again: exiting now`);
        process.exit(1);
      }
      stop(signal).then(
        () => resolve(0),
        (error: Error) => {
          logger.error(`shutdown failed: ${error.message}`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // Under `npm start` npm is the parent, and a SIGTERM sent to it (as a process manager or a
    // container runtime does) ends npm without passing the signal on: stop when the parent goes,
    // rather than run on as an orphan with the embedded PostgreSQL up. Only under npm: a jobdeck
    // started with nohup or & is meant to outlive its shell.
    if (process.env['npm_lifecycle_event']) {
      const parent = process.ppid;
      const watch = setInterval(() => {
        if (process.ppid === parent || stopping) return;
        clearInterval(watch);
        onSignal('the parent process (npm) exited');
      }, 250);
      watch.unref();
    }
  });
  try {
    if (database.source === 'DATABASE_URL')
      logger.info(`database: ${redactUrl(database.url)} (DATABASE_URL)`);
    // Never the password: start-up output ends up in terminals, CI logs and log collectors.
    else
      process.stdout.write(
        `PostgreSQL (${database.source}): ${redactUrl(database.url)} (password in ${path.relative(process.cwd(), credentialsPath(config.dataDir))})\n`,
      );
    const { applied, sql, tasks } = await prepare(config, connections);
    if (applied.length > 0) logger.info(`applied migrations: ${applied.join(', ')}`);
    if (sql.length > 0) {
      logger.info(`applied ${sql.length} sql/ file${sql.length === 1 ? '' : 's'}`);
      logger.debug(`applied sql/ files: ${sql.join(', ')}`);
    }
    if (options.worker) {
      worker = await runWorker(
        { connectionString: database.url, tasks, config, crontabFile: config.crontabFile, logger },
        { connections, ownsConnections: false, taskTypesRegistered: true },
      );
      worker.promise.catch(async (error: Error) => {
        logger.error(`worker stopped unexpectedly: ${error.message}`);
        await stop('worker failure');
        process.exit(1);
      });
    }
    if (options.server) {
      // Grafast reads GRAPHILE_ENV when it loads and warns when it is unset; production mode
      // unless the operator chose otherwise. Loaded lazily so worker-only commands skip it.
      process.env['GRAPHILE_ENV'] ??= 'production';
      const { startJobdeckServer } = await import('../http/app.ts');
      server = await startJobdeckServer(
        { config, connectionString: database.url, logger },
        connections,
      );
      process.stdout.write(
        `Dashboard: ${server.url}/  GraphQL: ${server.url}/graphql${config.graphiql ? `  GraphiQL: ${server.url}/graphiql` : ''}\n`,
      );
    }
    process.stdout.write(`jobdeck ${options.label}: ready (Ctrl-C to stop)\n`);
  } catch (error) {
    await stop('startup failed').catch(() => {});
    throw error;
  }
  return stopped;
}
