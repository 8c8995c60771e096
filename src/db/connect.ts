import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.ts';

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
 * DATABASE_URL when set; else the embedded server of this folder, started now if no jobdeck
 * process runs it yet. `close()` stops an embedded server once no other process is connected to
 * it, so the last jobdeck process of the folder to finish stops it, whichever started it.
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
      await embedded.stopIfUnused();
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
