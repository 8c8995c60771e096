import { Logger as WorkerLogger } from 'graphile-worker';
import type { LogLevel } from './config.ts';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A tiny leveled logger writing one line per message to stderr, so stdout stays for results. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function createLogger(level: LogLevel = 'info', scope = 'jobdeck'): Logger {
  const write = (at: LogLevel, message: string) => {
    if (ORDER[at] >= ORDER[level])
      process.stderr.write(`[${scope}] ${at === 'info' ? '' : `${at}: `}${message}\n`);
  };
  return {
    debug: (m) => write('debug', m),
    info: (m) => write('info', m),
    warn: (m) => write('warn', m),
    error: (m) => write('error', m),
  };
}

/** Graphile Worker's logger, filtered to our level (Worker is chatty at info). */
export function makeWorkerLogger(level: LogLevel): WorkerLogger {
  return new WorkerLogger(() => (workerLevel, message) => {
    let mapped: LogLevel =
      workerLevel === 'error'
        ? 'error'
        : workerLevel === 'warning'
          ? 'warn'
          : workerLevel === 'info'
            ? 'info'
            : 'debug';
    // A failed attempt is recorded on the job by jobdeck; for the process log it is a warning.
    if (mapped === 'error' && message.startsWith('Failed task')) mapped = 'warn';
    if (ORDER[mapped] >= ORDER[level])
      process.stderr.write(`[graphile-worker] ${mapped}: ${message}\n`);
  });
}
