#!/usr/bin/env node
import module from 'node:module';
import { ConfigError } from '../errors.ts';
import type { CommandLine } from './command-line.ts';
import { MissingPathError, USAGE, UsageError } from './usage.ts';

// Each command imports only the modules it uses, once the command line is known: the server's
// (PostGraphile, Fastify) and the worker's (Graphile Worker) take a second to load and the
// short commands (`jobs`, `enqueue`, `cancel`, `stats`, `token`) need none of them. Node's
// compile cache (in the OS temp folder; NODE_DISABLE_COMPILE_CACHE=1 turns it off) saves some
// of the compiling on each later start, so it goes on before the first of those imports. See
// docs/performance.md, "The CLI's start".
module.enableCompileCache();

/** Runs a parsed command; configuration is read only now, after the command line passed. */
async function run(command: Exclude<CommandLine, { command: 'help' }>): Promise<number> {
  if (command.command === 'init') {
    const { runInit } = await import('./init-command.ts');
    return runInit(command);
  }
  const { loadConfig } = await import('../config.ts');
  const config = loadConfig();
  switch (command.command) {
    case 'start':
    case 'worker':
    case 'serve':
    case 'migrate': {
      const { runMigrate, runStart, withPathFlags } = await import('./serve-commands.ts');
      const resolved = withPathFlags(config, command);
      if (command.command === 'migrate') return runMigrate(resolved);
      return runStart(resolved, {
        worker: command.command !== 'serve',
        server: command.command !== 'worker',
        label: command.command,
      });
    }
    case 'token': {
      const { runToken } = await import('./token-command.ts');
      return runToken(config, command);
    }
    case 'batch': {
      const { runBatch } = await import('./batch-commands.ts');
      return runBatch(config, command);
    }
    case 'template': {
      const { runTemplateCommand } = await import('./template-commands.ts');
      return runTemplateCommand(config, command);
    }
    case 'pause':
    case 'resume':
    case 'pauses': {
      const { runPauseCommand } = await import('./pause-commands.ts');
      return runPauseCommand(config, command);
    }
    default: {
      const { runJobCommand } = await import('./job-commands.ts');
      return runJobCommand(config, command);
    }
  }
}

/** Runs one CLI invocation and returns its exit code (never throws). */
export async function main(argv: string[]): Promise<number> {
  try {
    const { parseCommandLine } = await import('./command-line.ts');
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
    if (error instanceof ConfigError || error instanceof MissingPathError) {
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
