import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { findEmbeddedPostgres, startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.ts';

/** The database a command works on, and how to let go of it. */
export interface DatabaseHandle {
  url: string;
  /** Set when this process started the embedded server (and must stop it). */
  embedded: EmbeddedPostgres | null;
  /** Where the URL came from, for the startup message. */
  source: 'DATABASE_URL' | 'running embedded server' | 'embedded server started';
  close(): Promise<void>;
}

/**
 * DATABASE_URL when set; else the embedded server a `jobdeck start` in this folder is running
 * (found through its data folder); else an embedded server started now, stopped by `close()`.
 */
export async function openDatabase(config: Config, logger?: Logger): Promise<DatabaseHandle> {
  if (config.databaseUrl) {
    return {
      url: config.databaseUrl,
      embedded: null,
      source: 'DATABASE_URL',
      close: async () => {},
    };
  }
  const running = await findEmbeddedPostgres(config.dataDir);
  if (running)
    return {
      url: running,
      embedded: null,
      source: 'running embedded server',
      close: async () => {},
    };
  const embedded = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    port: config.embeddedPgPort,
    ...(logger ? { logger } : {}),
  });
  return {
    url: embedded.url,
    embedded: embedded.startedHere ? embedded : null,
    source: embedded.startedHere ? 'embedded server started' : 'running embedded server',
    close: async () => {
      if (embedded.startedHere) await embedded.stop();
    },
  };
}

/** The connection string with its password hidden, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '****';
    return parsed.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':****@');
  }
}
