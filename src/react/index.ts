/**
 * `jobdeck/react`: follow jobs and batches live from a browser. React hooks (`useJob`,
 * `useActiveJobs`, `useBatch`, `useBackgroundJobs`) over a framework-free client
 * (`createLiveClient`) that reads jobdeck's event streams with the caller's token or a token
 * scoped to one job (`signScopedToken`, server side), reconnects with backoff and falls back to
 * polling. Browser-safe: it imports nothing but `react` (a test bundles it for the browser and
 * checks). Guide: docs/react.md.
 */
export {
  JobdeckProvider,
  useActiveJobs,
  useBackgroundJobs,
  useBatch,
  useJob,
  type JobdeckProviderProps,
  type UseActiveJobsResult,
  type UseBackgroundJobsResult,
  type FollowedResult,
  type UseBatchResult,
  type UseJobResult,
} from './hooks.ts';
export { createLiveClient, type ActiveJobsFilter, type LiveClient } from './live-client.ts';
export {
  LiveError,
  openFeed,
  reconnectDelay,
  type FeedSpec,
  type LiveClientOptions,
  type LiveFeed,
  type LiveState,
  type LiveStatus,
  type Requester,
} from './live-feed.ts';
export { readServerSentEvents, type ServerSentEvent } from './sse-reader.ts';
export type {
  BackgroundJob,
  JobStatus,
  LiveBatch,
  LiveJob,
  TaskCategory,
  WidgetStatus,
} from './wire.ts';
