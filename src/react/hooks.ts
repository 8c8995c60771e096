import {
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  type ReactNode,
} from 'react';
import { createLiveClient, type ActiveJobsFilter, type LiveClient } from './live-client.ts';
import type { LiveClientOptions, LiveError, LiveFeed, LiveState, LiveStatus } from './live-feed.ts';
import type { BackgroundJob, LiveBatch, LiveJob } from './wire.ts';

const ClientContext = createContext<LiveClient | null>(null);

/** One client for the options' values (a new one only when one of them changes). */
function useClientFor(options: LiveClientOptions): LiveClient {
  const { baseUrl, token, credentials, reconnect, pollAfterFailures, pollIntervalMs } = options;
  const { staleAfterMs, fetch } = options;
  return useMemo(
    () => createLiveClient(options),
    [
      baseUrl,
      token,
      credentials,
      reconnect?.initialDelayMs,
      reconnect?.maxDelayMs,
      pollAfterFailures,
      pollIntervalMs,
      staleAfterMs,
      fetch,
    ],
  );
}

/** What {@link JobdeckProvider} takes: where jobdeck is, the caller's token, and the retry knobs. */
export type JobdeckProviderProps = LiveClientOptions & { children?: ReactNode };

/**
 * Gives the hooks below it where jobdeck is and whose token to use. A hook's own `options`
 * (a per-job token from `signScopedToken`, say) replace the provider's for that hook.
 */
export function JobdeckProvider({ children, ...options }: JobdeckProviderProps) {
  return createElement(ClientContext.Provider, { value: useClientFor(options) }, children);
}

/** The client for a hook: its own options over the provider's, or the provider's. */
function useClient(options: LiveClientOptions | undefined): LiveClient {
  const provided = useContext(ClientContext);
  const own = useClientFor({ ...provided?.options, ...options });
  return options || !provided ? own : provided;
}

/** A feed's state for React, the feed opened for `key` and closed when it changes or unmounts. */
function useFeed<T>(
  key: string | null,
  open: () => LiveFeed<T>,
  initial: T,
): LiveState<T> & { refresh(): Promise<void> } {
  const idle: LiveState<T> = { data: initial, status: 'done', error: null, receivedAt: null };
  const [state, setState] = useState<LiveState<T>>(idle);
  const feed = useRef<LiveFeed<T> | null>(null);
  useEffect(() => {
    if (key === null) {
      setState(idle);
      return;
    }
    const current = open();
    feed.current = current;
    setState(current.getState());
    const unsubscribe = current.subscribe(() => setState(current.getState()));
    return () => {
      unsubscribe();
      current.close();
      feed.current = null;
    };
  }, [key]);
  const refresh = useCallback(async () => feed.current?.refresh(), []);
  return { ...state, refresh };
}

/** A counter per client, so a hook reopens its feed when its client changes. */
const clientIds = new WeakMap<LiveClient, number>();
let nextClientId = 0;
function clientKey(client: LiveClient): number {
  let id = clientIds.get(client);
  if (id === undefined) clientIds.set(client, (id = ++nextClientId));
  return id;
}

/**
 * One job or batch, followed: its feed for `id` (none for null) and a cancel that re-reads after.
 * `follow` and `cancelOn` are module-level functions, so they never change between renders.
 */
function useFollowed<T>(
  id: string | null,
  options: LiveClientOptions | undefined,
  follow: (client: LiveClient, id: string) => LiveFeed<T | null>,
  cancelOn: (client: LiveClient, id: string) => Promise<unknown>,
) {
  const client = useClient(options);
  const key = id === null ? null : `${clientKey(client)} ${id}`;
  const state = useFeed(key, () => follow(client, id!), null);
  const { refresh } = state;
  const cancel = useCallback(async () => {
    if (id === null) return;
    await cancelOn(client, id);
    await refresh();
  }, [client, id, refresh, cancelOn]);
  return { data: state.data, status: state.status, error: state.error, cancel, refresh };
}

const followJob = (client: LiveClient, id: string) => client.followJob(id);
const cancelJob = (client: LiveClient, id: string) => client.cancelJob(id);
const followBatch = (client: LiveClient, id: string) => client.followBatch(id);
const cancelBatch = (client: LiveClient, id: string) => client.cancelBatch(id);

/** What {@link useJob} and {@link useBatch} return besides the row itself. */
export interface FollowedResult {
  status: LiveStatus;
  error: LiveError | null;
  /**
   * Cancels the job (a scoped token needs `allowCancel`), or the batch's unfinished jobs, then
   * reads it again.
   */
  cancel(): Promise<void>;
  refresh(): Promise<void>;
}

/** What {@link useJob} returns. */
export interface UseJobResult extends FollowedResult {
  /** The job as last received; null until the first state arrives. */
  job: LiveJob | null;
}

/**
 * Follows one job live: its status, progress, step and result, from its event stream (reconnecting
 * with backoff, polling `GET /v1/jobs/:id/status` when the stream keeps failing). `status` is
 * `done` once the job has finished. Pass null to follow nothing.
 */
export function useJob(id: string | null, options?: LiveClientOptions): UseJobResult {
  const { data, ...rest } = useFollowed(id, options, followJob, cancelJob);
  return { job: data, ...rest };
}

/** What {@link useBatch} returns. */
export interface UseBatchResult extends FollowedResult {
  /** The batch as last received; null until the first state arrives. */
  batch: LiveBatch | null;
}

/** Follows one batch's aggregate progress live; `status` is `done` once every job finished. */
export function useBatch(id: string | null, options?: LiveClientOptions): UseBatchResult {
  const { data, ...rest } = useFollowed(id, options, followBatch, cancelBatch);
  return { batch: data, ...rest };
}

/** What {@link useActiveJobs} returns. */
export interface UseActiveJobsResult {
  /** The caller's unfinished jobs, newest first (at most 100 per status). */
  jobs: LiveJob[];
  status: LiveStatus;
  error: LiveError | null;
  /** Cancels one of them. */
  cancel(id: string): Promise<void>;
  refresh(): Promise<void>;
}

/** The caller's unfinished jobs (queued, running, retrying), optionally of one type, live. */
export function useActiveJobs(
  filter: ActiveJobsFilter = {},
  options?: LiveClientOptions,
): UseActiveJobsResult {
  const client = useClient(options);
  const key = `${clientKey(client)} ${JSON.stringify([filter.type ?? null])}`;
  const state = useFeed(key, () => client.followActiveJobs(filter), [] as LiveJob[]);
  const cancel = useCallback((id: string) => client.cancelJob(id), [client]);
  return {
    jobs: state.data,
    status: state.status,
    error: state.error,
    cancel,
    refresh: state.refresh,
  };
}

/** What {@link useBackgroundJobs} returns: the DataBiz widget's list and count. */
export interface UseBackgroundJobsResult {
  /** `GET /api/v2/jobs/active`'s items, in the widget's shape (seeds 000/001). */
  jobs: BackgroundJob[];
  /** Jobs still in flight: the widget's "N running jobs". */
  runningCount: number;
  /** True until the first list has arrived. */
  isLoading: boolean;
  error: LiveError | null;
  status: LiveStatus;
  refresh(): Promise<void>;
}

/**
 * The DataBiz header widget's hook (seeds 000/001): the caller's recent jobs as
 * `{id, type, status, progress}`, pushed live instead of polled every 10 s (it polls only when the
 * stream keeps failing).
 */
export function useBackgroundJobs(options?: LiveClientOptions): UseBackgroundJobsResult {
  const client = useClient(options);
  const state = useFeed(
    String(clientKey(client)),
    () => client.followBackgroundJobs(),
    [] as BackgroundJob[],
  );
  return {
    jobs: state.data,
    runningCount: state.data.filter((job) => job.status === 'running').length,
    isLoading: state.receivedAt === null && state.status !== 'refused',
    error: state.error,
    status: state.status,
    refresh: state.refresh,
  };
}
