import type { Config } from '../config.ts';
import type { Batch } from '../batches/batches.ts';
import type { Jobdeck } from '../client.ts';
import { withClient } from './job-commands.ts';
import type { CommandLine } from './command-line.ts';

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
  const interactive = !json && process.stderr.isTTY;
  const cliProgress = interactive ? (await import('cli-progress')).default : null;
  const bar = cliProgress
    ? new cliProgress.SingleBar(
        {
          format:
            'batch [{bar}] {percentage}% | {value}/{total} | {failed} failed {cancelled} cancelled',
          hideCursor: true,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let last: Batch | null = null;
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  try {
    for await (const batch of jobdeck.watchBatch(id, { signal: abort.signal })) {
      last = batch;
      if (json) process.stdout.write(`${JSON.stringify(batch)}\n`);
      else if (bar) {
        const payload = { failed: batch.failed, cancelled: batch.cancelled };
        if (!bar.isActive) bar.start(batch.total, batch.finished, payload);
        else bar.update(batch.finished, payload);
      } else process.stderr.write(`batch ${describeBatch(batch)}\n`);
    }
  } finally {
    bar?.stop();
    process.off('SIGINT', onSignal);
  }
  if (!last) return 1;
  if (!json) {
    if (abort.signal.aborted && last.status === 'running')
      process.stderr.write(`stopped watching; the batch is ${describeBatch(last)}\n`);
    else process.stdout.write(`batch ${describeBatch(last)}\n`);
  }
  return last.status === 'succeeded' ? 0 : 1;
}
