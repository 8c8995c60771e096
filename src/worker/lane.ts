/**
 * A write lane: items pushed while a statement is in flight (or within `delayMs` of the first one)
 * are written together by the next call of `write`. One statement in flight per lane keeps a
 * lane's writes in order; separate lanes run side by side.
 */
export class Lane<T, R = void> {
  readonly #write: (items: T[]) => Promise<R[]>;
  readonly #delayMs: number;
  readonly #onError: (error: Error, items: T[]) => void;
  #pending: { item: T; resolve: (value: R) => void; reject: (error: Error) => void }[] = [];
  #timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  #inFlight: Promise<void> | null = null;

  /**
   * @param write writes a batch and returns one result per item, in order.
   * @param onError told of failed batches (the callers' promises reject too).
   */
  constructor(
    write: (items: T[]) => Promise<R[]>,
    delayMs: number,
    onError: (error: Error, items: T[]) => void = () => {},
  ) {
    this.#write = write;
    this.#delayMs = delayMs;
    this.#onError = onError;
  }

  get size(): number {
    return this.#pending.length;
  }

  push(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  /** Writes everything pending now and waits for it. */
  async drain(): Promise<void> {
    while (this.#pending.length > 0 || this.#inFlight) {
      // A timer still armed finds nothing to do when it fires.
      if (!this.#inFlight) this.#flush();
      await this.#inFlight;
    }
  }

  #schedule(): void {
    if (this.#inFlight || this.#timer) return;
    if (this.#delayMs <= 0) {
      this.#timer = setImmediate(() => {
        this.#timer = null;
        this.#flush();
      });
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#flush();
    }, this.#delayMs);
  }

  #flush(): void {
    if (this.#inFlight || this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#inFlight = this.#write(batch.map((entry) => entry.item))
      .then(
        (results) => {
          batch.forEach((entry, index) => entry.resolve(results[index] as R));
        },
        (error: Error) => {
          this.#onError(
            error,
            batch.map((entry) => entry.item),
          );
          for (const entry of batch) entry.reject(error);
        },
      )
      .finally(() => {
        this.#inFlight = null;
        // Whatever arrived meanwhile goes out at once: it has already waited one round trip.
        if (this.#pending.length > 0) this.#flush();
      });
  }
}
