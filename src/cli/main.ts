#!/usr/bin/env node
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { runStart, runMigrate } from './serve-commands.ts';
import { runToken } from './token-command.ts';
import { runCancel, runEnqueue, runJobs, runRetry, runStats, runWatch } from './job-commands.ts';
import { USAGE, UsageError } from './usage.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

const COMMANDS: Record<
  string,
  {
    options: Options;
    run: (args: { values: Record<string, unknown>; positionals: string[] }) => Promise<number>;
  }
> = {
  start: {
    options: {},
    run: () => runStart(loadConfig(), { worker: true, server: true, label: 'start' }),
  },
  worker: {
    options: {},
    run: () => runStart(loadConfig(), { worker: true, server: false, label: 'worker' }),
  },
  serve: {
    options: {},
    run: () => runStart(loadConfig(), { worker: false, server: true, label: 'serve' }),
  },
  token: {
    options: {
      user: { type: 'string' },
      org: { type: 'string' },
      role: { type: 'string' },
      ttl: { type: 'string' },
      permissions: { type: 'string' },
      json: { type: 'boolean' },
    },
    run: (args) => runToken(loadConfig(), args),
  },
  migrate: { options: {}, run: () => runMigrate(loadConfig()) },
  enqueue: {
    options: {
      priority: { type: 'string' },
      'run-at': { type: 'string' },
      'max-attempts': { type: 'string' },
      key: { type: 'string' },
      'key-mode': { type: 'string' },
      queue: { type: 'string' },
      owner: { type: 'string' },
      org: { type: 'string' },
      json: { type: 'boolean' },
    },
    run: (args) => runEnqueue(loadConfig(), args),
  },
  jobs: {
    options: {
      active: { type: 'boolean' },
      status: { type: 'string' },
      type: { type: 'string' },
      owner: { type: 'string' },
      org: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    },
    run: (args) => runJobs(loadConfig(), args),
  },
  watch: { options: { json: { type: 'boolean' } }, run: (args) => runWatch(loadConfig(), args) },
  cancel: {
    options: { reason: { type: 'string' }, wait: { type: 'boolean' }, json: { type: 'boolean' } },
    run: (args) => runCancel(loadConfig(), args),
  },
  retry: { options: { json: { type: 'boolean' } }, run: (args) => runRetry(loadConfig(), args) },
  stats: {
    options: { since: { type: 'string' }, type: { type: 'string' }, json: { type: 'boolean' } },
    run: (args) => runStats(loadConfig(), args),
  },
};

/** Runs one CLI invocation and returns its exit code (never throws). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  try {
    if (!command) throw new UsageError(`unknown command "${name}"`);
    let parsed;
    try {
      parsed = parseArgs({
        args: rest,
        options: command.options,
        allowPositionals: true,
        strict: true,
      });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    return await command.run({
      values: parsed.values as Record<string, unknown>,
      positionals: parsed.positionals,
    });
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
