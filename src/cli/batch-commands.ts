import type { Config } from '../config.ts';
import type { Batch } from '../batches/batches.ts';
import type { Jobdeck } from '../client.ts';
import { withClient } from './job-commands.ts';
import type { CommandLine } from './command-line.ts';
import { follow } from './follow.ts';

type BatchCommand = Extract<CommandLine, { command: 'batch' }>;

/** One line for a batch: `running 42% (400/1000: 390 succeeded, 10 failed, 0 cancelled)`. */
export function describeBatch(batch: Batch): string {
  return (
    `${batch.status} ${batch.percent}% (${batch.finished}/${batch.total}: ${batch.succeeded} succeeded, ` +
    `${batch.failed} failed, ${batch.cancelled} cancelled)`
  );
}

/** `jobdeck batch <id> [--cancel [--reason r]] [--json]`: a batch's progress; cancels it with --cancel. */
export async function runBatch(config: Config, command: BatchCommand): Promise<number> {
  const batch = await withClient(config, (jobdeck) =>
    command.cancel ? jobdeck.cancelBatch(command.id, command.reason) : jobdeck.getBatch(command.id),
  );
  if (command.json) process.stdout.write(`${JSON.stringify(batch)}\n`);
  else {
    process.stdout.write(`batch ${batch.id}: ${describeBatch(batch)}\n`);
    if (batch.onCompleteJobId) process.stdout.write(`on-complete job: ${batch.onCompleteJobId}\n`);
  }
  return 0;
}

/**
 * `jobdeck watch <batch-id>`: a live bar of the batch's finished jobs until all have finished.
 * Exit 0 when every job succeeded, 1 otherwise (some failed or were cancelled, or interrupted).
 */
export async function watchBatchLive(jobdeck: Jobdeck, id: string, json: boolean): Promise<number> {
  const { last, interrupted } = await follow(
    (signal) => jobdeck.watchBatch(id, { signal }),
    {
      format:
        'batch [{bar}] {percentage}% | {value}/{total} | {failed} failed {cancelled} cancelled',
      bar: (batch) => ({
        total: batch.total,
        value: batch.finished,
        payload: { failed: batch.failed, cancelled: batch.cancelled },
      }),
      line: (batch) => `batch ${describeBatch(batch)}`,
    },
    json,
  );
  if (!last) return 1;
  if (!json) {
    if (interrupted && last.status === 'running')
      process.stderr.write(`stopped watching; the batch is ${describeBatch(last)}\n`);
    else process.stdout.write(`batch ${describeBatch(last)}\n`);
  }
  return last.status === 'succeeded' ? 0 : 1;
}
