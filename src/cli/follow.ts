/** How `jobdeck watch` shows one kind of live row (a job, a batch). */
export interface FollowView<T> {
  /** The bar's cli-progress format, on a terminal. */
  format: string;
  /** The bar's total, value and format payload for one state. */
  bar(state: T): { total: number; value: number; payload: Record<string, string | number> };
  /** One line for a state, on stderr when it is no terminal. */
  line(state: T): string;
}

/**
 * Follows `watch` until it ends or Ctrl-C: JSON lines on stdout with `json`, else a live bar on a
 * terminal or a line per state. Returns the last state seen (null when none) and whether Ctrl-C
 * stopped it.
 */
export async function follow<T>(
  watch: (signal: AbortSignal) => AsyncIterable<T>,
  view: FollowView<T>,
  json: boolean,
): Promise<{ last: T | null; interrupted: boolean }> {
  const interactive = !json && process.stderr.isTTY;
  // Loaded only for a terminal: the CLI's other commands start faster without it.
  const cliProgress = interactive ? (await import('cli-progress')).default : null;
  const bar = cliProgress
    ? new cliProgress.SingleBar(
        { format: view.format, hideCursor: true, stream: process.stderr },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let last: T | null = null;
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  try {
    for await (const state of watch(abort.signal)) {
      last = state;
      if (json) process.stdout.write(`${JSON.stringify(state)}\n`);
      else if (bar) {
        const { total, value, payload } = view.bar(state);
        if (!bar.isActive) bar.start(total, value, payload);
        else bar.update(value, payload);
      } else process.stderr.write(`${view.line(state)}\n`);
    }
  } finally {
    bar?.stop();
    process.off('SIGINT', onSignal);
  }
  return { last, interrupted: abort.signal.aborted };
}
