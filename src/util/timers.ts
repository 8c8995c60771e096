/** setTimeout's limit (about 24.8 days); a longer delay fires after 1 ms instead. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Calls `fn` at the time `at` (ms since the epoch), however far away: a delay past
 * {@link MAX_TIMER_MS} is waited in steps, since setTimeout would fire such a timer at once (a
 * session that never ends, say). The timer does not keep the process alive. Returns the cancel.
 */
export function callAt(at: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const left = at - Date.now();
    timer = setTimeout(
      () => (Date.now() < at ? arm() : fn()),
      Math.max(0, Math.min(left, MAX_TIMER_MS)),
    );
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}
