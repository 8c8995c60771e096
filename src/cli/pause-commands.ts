import type { Config } from '../config.ts';
import { describePause } from '../jobs/pauses.ts';
import type { CommandLine } from './command-line.ts';
import { withClient } from './job-commands.ts';

type Command<C extends CommandLine['command']> = Extract<CommandLine, { command: C }>;

/** The commands that pause and resume work: `pause`, `resume`, `pauses`. */
export type PauseCommand = Command<'pause' | 'resume' | 'pauses'>;

/**
 * `jobdeck pause <queue> | --type t | --all [--reason r] [--cancel-running]`,
 * `jobdeck resume <queue> | --type t | --all`, `jobdeck pauses`.
 */
export async function runPauseCommand(config: Config, command: PauseCommand): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (command.command === 'pause') {
    const result = await withClient(config, (jobdeck) =>
      jobdeck.pause(command.target, {
        reason: command.reason,
        cancelRunning: command.cancelRunning,
        by: `cli:${process.env['USER'] ?? 'unknown'}`.slice(0, 200),
      }),
    );
    if (command.json) out(JSON.stringify(result));
    else
      out(
        `paused ${describePause(result)}: ${result.held} waiting job(s) held` +
          (command.cancelRunning ? `, ${result.cancelled} running job(s) asked to cancel` : '') +
          '; resume with jobdeck resume',
      );
    return 0;
  }
  if (command.command === 'resume') {
    const result = await withClient(config, (jobdeck) => jobdeck.resume(command.target));
    if (command.json) out(JSON.stringify(result));
    else if (!result.resumed) out(`${describePause(result)} was not paused`);
    else out(`resumed ${describePause(result)}: ${result.released} job(s) queued again`);
    return 0;
  }
  const pauses = await withClient(config, (jobdeck) => jobdeck.pauses());
  if (command.json) {
    out(JSON.stringify(pauses));
    return 0;
  }
  if (pauses.length === 0) {
    out('nothing is paused');
    return 0;
  }
  for (const p of pauses)
    out(
      `${describePause(p)}: paused ${p.pausedAt.toISOString()}${p.pausedBy ? ` by ${p.pausedBy}` : ''}, ` +
        `${p.held} job(s) held${p.reason ? ` (${p.reason})` : ''}`,
    );
  return 0;
}
