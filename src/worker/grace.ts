/** Thrown in place of a task's outcome when it did not stop within its grace after an abort. */
export class AbandonedError extends Error {
  override readonly name = 'AbandonedError';
}

/**
 * Settles with `work`, unless `signal` aborts and `work` has not settled `graceMs` later: then
 * rejects with AbandonedError. The abandoned work runs on; whatever it ends with is ignored.
 */
export function withGrace<T>(work: Promise<T>, signal: AbortSignal, graceMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      timer = setTimeout(
        () =>
          reject(
            new AbandonedError(
              `the task did not stop within ${graceMs} ms of its signal aborting; abandoned, its result will be discarded`,
            ),
          ),
        graceMs,
      );
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}
