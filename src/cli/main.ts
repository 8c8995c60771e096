#!/usr/bin/env node
import { loadConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { parseCommandLine, type CommandLine } from './command-line.ts';
import { runStart, runMigrate } from './serve-commands.ts';
import { runToken } from './token-command.ts';
import { runCancel, runEnqueue, runJobs, runRetry, runStats, runWatch } from './job-commands.ts';
import { USAGE, UsageError } from './usage.ts';

/** Runs a parsed command; configuration is read only now, after the command line passed. */
function run(command: Exclude<CommandLine, { command: 'help' }>): Promise<number> {
  switch (command.command) {
    case 'start':
      return runStart(loadConfig(), { worker: true, server: true, label: 'start' });
    case 'worker':
      return runStart(loadConfig(), { worker: true, server: false, label: 'worker' });
    case 'serve':
      return runStart(loadConfig(), { worker: false, server: true, label: 'serve' });
    case 'migrate':
      return runMigrate(loadConfig());
    case 'token':
      return runToken(loadConfig(), command);
    case 'enqueue':
      return runEnqueue(loadConfig(), command);
    case 'jobs':
      return runJobs(loadConfig(), command);
    case 'watch':
      return runWatch(loadConfig(), command);
    case 'cancel':
      return runCancel(loadConfig(), command);
    case 'retry':
      return runRetry(loadConfig(), command);
    case 'stats':
      return runStats(loadConfig(), command);
  }
}

/** Runs one CLI invocation and returns its exit code (never throws). */
export async function main(argv: string[]): Promise<number> {
  try {
    const command = parseCommandLine(argv);
    if (command.command === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return command.exitCode;
    }
    return await run(command);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`jobdeck: ${error.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`jobdeck: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`jobdeck: ${(error as Error).message ?? String(error)}\n`);
    return 1;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
