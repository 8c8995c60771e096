import { readServerSentEvents, type ServerSentEvent } from './sse-reader.ts';

/**
 * Where a live feed stands:
 * - `connecting`: opening the event stream for the first time;
 * - `live`: the stream is open, changes arrive as they happen;
 * - `reconnecting`: the stream dropped; retrying with backoff (the last data stays);
 * - `polling`: the stream failed several times in a row; the REST route is read every
 *   `pollIntervalMs` while the stream is retried now and then;
 * - `offline`: neither the stream nor the REST route answers (still retrying);
 * - `done`: what it follows has finished (a job, a batch): nothing more will change;
 * - `refused`: the server said no (401, 403, 404): `error` says why; no more retries.
 */
export type LiveStatus =
  'connecting' | 'live' | 'reconnecting' | 'polling' | 'offline' | 'done' | 'refused';

/** Why a request failed: the HTTP status (null: no answer) and the server's message. */
export class LiveError extends Error {
  readonly status: number | null;
  constructor(status: number | null, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LiveError';
    this.status = status;
  }
}

/** How to reach jobdeck and how hard to try. */
export interface LiveClientOptions {
  /** jobdeck's URL, with its prefix when mounted (`https://app.example/jobs-api`); '' = this page's origin. */
  baseUrl?: string;
  /**
   * The bearer token (the user's, or one from `signScopedToken` for one job), or a function
   * returning it, called before every connection (so an expired token can be renewed). Omit it
   * when jobdeck is mounted with the application's `identify`: the page's cookies are sent.
   */
  token?: string | null | (() => string | null | Promise<string | null>);
  /** Cookies: `same-origin` (default) or `include` for a jobdeck on another origin. */
  credentials?: 'omit' | 'same-origin' | 'include';
  /** Reconnect delays: from `initialDelayMs` (500) doubling to `maxDelayMs` (15,000), with jitter. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Failed stream attempts in a row before falling back to polling (3). */
  pollAfterFailures?: number;
  /** Milliseconds between reads while polling (2,000). */
  pollIntervalMs?: number;
  /** A stream silent this long (no event, no `: ping`) is taken for dead and reopened (45,000). */
  staleAfterMs?: number;
  /** The fetch to use (tests, server-side rendering); default the global one. */
  fetch?: typeof fetch;
}

/** A feed's data, where it stands, and the last error. */
export interface LiveState<T> {
  data: T;
  status: LiveStatus;
  error: LiveError | null;
  /** When `data` last came from the server (ms since the epoch); null until it first has. */
  receivedAt: number | null;
}

/** A followed resource: read its state, be told of changes, stop. */
export interface LiveFeed<T> {
  getState(): LiveState<T>;
  /** Calls `listener` after every change of the state; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
  /** Reads the REST route now (after an action of the page's own, say). */
  refresh(): Promise<void>;
  /** Stops following: closes the stream and any timer. */
  close(): void;
}

/** What a feed follows: its stream, its REST read, and how an event changes the data. */
export interface FeedSpec<T> {
  initial: T;
  /** The event stream's path (below `baseUrl`). */
  stream: string;
  /** Reads the whole state from REST (initial state, polling, after `event: reconnected`). */
  read(request: Requester): Promise<T>;
  /** The data after an event; `'reread'` to read it from REST instead. */
  apply(event: ServerSentEvent, data: T): T | 'reread';
  /** Whether the data is final (a finished job): the feed then stops. */
  isDone?(data: T): boolean;
  /** The stream sends no state when it opens: read it from REST then. */
  readOnOpen?: boolean;
  /** While live, read from REST this often as well (state that ages out server-side). */
  refreshEveryMs?: number;
}

/** Sends a request to jobdeck with the feed's credentials and returns the parsed JSON body. */
export type Requester = <R = unknown>(path: string, init?: { method?: string }) => Promise<R>;

/**
 * The delay before reconnect attempt `attempt` (1, 2, …): doubling from `initialDelayMs` up to
 * `maxDelayMs`, then "equal jitter" (half fixed, half random), so clients dropped together by a
 * server restart do not all come back in the same millisecond.
 */
export function reconnectDelay(
  attempt: number,
  options: LiveClientOptions['reconnect'] = {},
  random: () => number = Math.random,
): number {
  const initial = options.initialDelayMs ?? 500;
  const max = options.maxDelayMs ?? 15_000;
  const base = Math.min(max, initial * 2 ** Math.max(0, attempt - 1));
  return base / 2 + (random() * base) / 2;
}

/** Statuses after which retrying cannot help (401 only if the token cannot be renewed). */
const REFUSED = new Set([401, 403, 404]);

/** A requester for `options`: JSON in, JSON out, a {@link LiveError} with the server's message. */
export function makeRequester(options: LiveClientOptions): {
  request: Requester;
  headers(): Promise<Record<string, string>>;
} {
  const base = (options.baseUrl ?? '').replace(/\/+$/, '');
  const headers = async () => {
    const token = typeof options.token === 'function' ? await options.token() : options.token;
    const result: Record<string, string> = { accept: 'application/json' };
    if (token) result['authorization'] = `Bearer ${token}`;
    return result;
  };
  const request: Requester = async <R>(path: string, init: { method?: string } = {}) => {
    const doFetch = options.fetch ?? fetch;
    let response: Response;
    try {
      response = await doFetch(`${base}${path}`, {
        method: init.method ?? 'GET',
        headers: await headers(),
        credentials: options.credentials ?? 'same-origin',
      });
    } catch (error) {
      throw new LiveError(null, `jobdeck did not answer: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (!response.ok) throw await errorOf(response);
    return (await response.json()) as R;
  };
  return { request, headers };
}

/** The error a non-2xx answer carries (`{error, message}` on jobdeck's routes). */
async function errorOf(response: Response): Promise<LiveError> {
  let message = `HTTP ${response.status}`;
  try {
    const body = (await response.json()) as { message?: unknown; errors?: { message?: unknown }[] };
    const text = body.message ?? body.errors?.[0]?.message;
    if (typeof text === 'string') message = text;
  } catch {
    // not JSON: the status says enough
  }
  return new LiveError(response.status, message);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** How one stream connection ended. */
type Outcome = 'done' | 'refused' | 'dropped' | 'failed' | 'closed';

/**
 * Follows a resource over its event stream, reconnecting with backoff, falling back to polling
 * its REST route after `pollAfterFailures` failures in a row and going back to the stream when it
 * answers again. Framework-free: the React hooks are a thin layer on top.
 */
export function openFeed<T>(options: LiveClientOptions, spec: FeedSpec<T>): LiveFeed<T> {
  const { request, headers } = makeRequester(options);
  const listeners = new Set<() => void>();
  const stop = new AbortController();
  let state: LiveState<T> = {
    data: spec.initial,
    status: 'connecting',
    error: null,
    receivedAt: null,
  };
  const set = (next: Partial<LiveState<T>>) => {
    if (stop.signal.aborted) return;
    state = { ...state, ...next };
    for (const listener of listeners) listener();
  };
  const finished = (data: T) => spec.isDone?.(data) ?? false;

  // One REST read at a time; asks made meanwhile are folded into one more read after it.
  let reading: Promise<void> | null = null;
  let again = false;
  const reread = (): Promise<void> => {
    if (reading) {
      again = true;
      return reading;
    }
    reading = (async () => {
      try {
        do {
          again = false;
          const data = await spec.read(request);
          set({
            data,
            error: null,
            receivedAt: Date.now(),
            ...(finished(data) ? { status: 'done' } : {}),
          });
        } while (again && !stop.signal.aborted);
      } finally {
        reading = null;
      }
    })();
    return reading;
  };

  const refuse = (error: LiveError) => set({ status: 'refused', error });

  /** One connection of the stream, until it ends, breaks, goes stale or the feed closes. */
  const streamOnce = async (renewedAfter401: boolean): Promise<Outcome | 'renew'> => {
    const attempt = new AbortController();
    const onStop = () => attempt.abort();
    stop.signal.addEventListener('abort', onStop, { once: true });
    const staleAfter = options.staleAfterMs ?? 45_000;
    let stale: ReturnType<typeof setTimeout> | undefined;
    const traffic = () => {
      clearTimeout(stale);
      stale = setTimeout(() => attempt.abort(), staleAfter);
    };
    let refresher: ReturnType<typeof setInterval> | undefined;
    // A stream that opens and drops before telling anything counts as a failure, so a server
    // that keeps doing that sends the feed to polling instead of reconnecting forever.
    let delivered = false;
    try {
      traffic();
      const response = await (options.fetch ?? fetch)(
        `${(options.baseUrl ?? '').replace(/\/+$/, '')}${spec.stream}`,
        {
          headers: { ...(await headers()), accept: 'text/event-stream' },
          credentials: options.credentials ?? 'same-origin',
          signal: attempt.signal,
        },
      );
      if (!response.ok || !response.body) {
        const error = await errorOf(response);
        if (response.status === 401 && typeof options.token === 'function' && !renewedAfter401)
          return 'renew';
        if (REFUSED.has(response.status)) {
          refuse(error);
          return 'refused';
        }
        set({ error });
        return 'failed';
      }
      set({ status: 'live', error: null });
      if (spec.readOnOpen) {
        await reread();
        delivered = true;
      }
      if (spec.refreshEveryMs)
        refresher = setInterval(() => void reread().catch(() => {}), spec.refreshEveryMs);
      for await (const event of readServerSentEvents(response.body, traffic)) {
        // the stream sent the final state just before
        if (event.event === 'end') {
          set({ status: 'done' });
          return 'done';
        }
        if (event.event === 'expired') return delivered ? 'dropped' : 'failed';
        if (event.event === 'error') return delivered ? 'dropped' : 'failed';
        if (event.event === 'reconnected') {
          // the server's listener reconnected: changes may have been missed
          await reread();
        } else {
          delivered = true;
          const next = spec.apply(event, state.data);
          if (next === 'reread') await reread();
          else
            set({
              data: next,
              receivedAt: Date.now(),
              ...(finished(next) ? { status: 'done' } : {}),
            });
        }
        if (state.status === 'done') return 'done';
      }
      if (stop.signal.aborted) return 'closed';
      return delivered ? 'dropped' : 'failed';
    } catch (error) {
      if (stop.signal.aborted) return 'closed';
      if (error instanceof LiveError && error.status !== null && REFUSED.has(error.status)) {
        refuse(error);
        return 'refused';
      }
      set({
        error:
          error instanceof LiveError
            ? error
            : new LiveError(null, `the event stream broke: ${(error as Error).message}`, {
                cause: error,
              }),
      });
      return delivered ? 'dropped' : 'failed';
    } finally {
      clearTimeout(stale);
      clearInterval(refresher);
      stop.signal.removeEventListener('abort', onStop);
      attempt.abort();
    }
  };

  /** Reads the REST route every `pollIntervalMs` for `forMs`; false once there is no point going on. */
  const pollFor = async (forMs: number): Promise<boolean> => {
    const until = Date.now() + forMs;
    do {
      try {
        await reread();
        if (state.status === 'done') return false;
        set({ status: 'polling', error: null });
      } catch (error) {
        const live =
          error instanceof LiveError
            ? error
            : new LiveError(
                null,
                `jobdeck's answer could not be read: ${(error as Error).message}`,
                {
                  cause: error,
                },
              );
        if (live.status !== null && REFUSED.has(live.status)) {
          refuse(live);
          return false;
        }
        set({ status: 'offline', error: live });
      }
      await pause(options.pollIntervalMs ?? 2_000, stop.signal);
    } while (Date.now() < until && !stop.signal.aborted);
    return !stop.signal.aborted;
  };

  void (async () => {
    let failures = 0;
    let renewed = false;
    while (!stop.signal.aborted) {
      const outcome = await streamOnce(renewed);
      if (outcome === 'done' || outcome === 'refused' || outcome === 'closed') return;
      if (outcome === 'renew') {
        renewed = true;
        continue;
      }
      renewed = false;
      // a stream that was live and dropped starts the count again
      failures = outcome === 'dropped' ? 1 : failures + 1;
      const delay = reconnectDelay(failures, options.reconnect);
      if (failures >= (options.pollAfterFailures ?? 3)) {
        if (!(await pollFor(delay))) return;
      } else {
        set({ status: 'reconnecting' });
        await pause(delay, stop.signal);
      }
    }
  })();

  return {
    getState: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    refresh: () => reread(),
    close() {
      stop.abort();
      listeners.clear();
    },
  };
}
