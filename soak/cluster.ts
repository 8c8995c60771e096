import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, startEmbeddedPostgres, type EmbeddedPostgres } from '../src/db/embedded.ts';

/**
 * The soak's own embedded PostgreSQL, in a temporary folder, on a port fixed at the first start so
 * that a restart brings the same cluster back where every client expects it.
 */
export interface SoakCluster {
  /** Connection string of the soak database. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Stops the server (fast shutdown: every connection is cut), waits `downMs`, starts it again. */
  restart(downMs: number): Promise<{ stoppedAt: number; startedAt: number }>;
  /** Stops the server and deletes its folder; safe to call more than once. */
  destroy(): Promise<void>;
}

const DATABASE = 'soak';
/** 3 workers (concurrency + 11 connections each), 2 servers, the soak's own pools, headroom. */
const MAX_CONNECTIONS = 300;

/**
 * Creates the cluster in a fresh temporary folder and starts it; `maxConnections` for a bigger
 * fleet than the default (soak/shape.ts).
 */
export async function startSoakCluster(
  options: { maxConnections?: number } = {},
): Promise<SoakCluster> {
  const SETTINGS = { max_connections: Math.max(MAX_CONNECTIONS, options.maxConnections ?? 0) };
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'jobdeck-soak-'));
  // As root, PostgreSQL runs as another OS user, which must be able to enter the folder.
  await chmod(dataDir, 0o755);
  const port = await freePort();
  const start = () =>
    startEmbeddedPostgres({ dataDir, port, database: DATABASE, settings: SETTINGS });
  let server: EmbeddedPostgres;
  try {
    server = await start();
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  if (server.port !== port)
    throw new Error(`embedded PostgreSQL came up on ${server.port}, not ${port}`);
  let destroyed = false;
  return {
    url: server.url,
    port,
    dataDir,
    async restart(downMs) {
      await server.stop();
      const stoppedAt = Date.now();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      server = await start();
      if (server.port !== port)
        throw new Error(`embedded PostgreSQL came back on ${server.port}, not ${port}`);
      return { stoppedAt, startedAt: Date.now() };
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      try {
        // pg_ctl stop on the cluster folder: also right after a failed restart, and a no-op when
        // nothing runs there.
        await server.stop();
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}
