import { WIDGET_STATUS } from '../jobs/categories.ts';
import { ACTIVE_STATUSES, canCancel, canRetry, isFinished } from '../jobs/states.ts';
import {
  makeRequester,
  openFeed,
  type LiveClientOptions,
  type LiveFeed,
  type Requester,
} from './live-feed.ts';
import type { ServerSentEvent } from './sse-reader.ts';
import type { BackgroundJob, LiveBatch, LiveJob } from './wire.ts';

/** Which unfinished jobs {@link LiveClient.followActiveJobs} lists. */
export interface ActiveJobsFilter {
  /** Only jobs of this type (`import_file`). */
  type?: string;
}

/** Follows jobs and batches over jobdeck's event streams; one per page (or per token). */
export interface LiveClient {
  /** One job, live from `GET /v1/jobs/:id/events`; `done` once it has finished. */
  followJob(id: string): LiveFeed<LiveJob | null>;
  /** One batch, live from `GET /api/v2/batches/:id/events`; `done` once every job finished. */
  followBatch(id: string): LiveFeed<LiveBatch | null>;
  /** The caller's unfinished jobs (newest first), live from `GET /v1/jobs/events`. */
  followActiveJobs(filter?: ActiveJobsFilter): LiveFeed<LiveJob[]>;
  /** The DataBiz widget's list (`GET /api/v2/jobs/active`), kept live from `GET /v1/jobs/events`. */
  followBackgroundJobs(): LiveFeed<BackgroundJob[]>;
  /** Cancels a job (`POST /v1/jobs/:id/cancel`); rejects with a LiveError saying why not. */
  cancelJob(id: string): Promise<void>;
  /** Cancels a batch's unfinished jobs (`POST /api/v2/batches/:id/cancel`). */
  cancelBatch(id: string): Promise<LiveBatch>;
  readonly options: LiveClientOptions;
}

/** The status body of a job (REST and `event: job`): the job, and what may be done to it. */
interface StatusBody {
  job: Omit<LiveJob, 'canCancel' | 'canRetry'> & { payload?: unknown };
  canCancel: boolean;
  canRetry: boolean;
}

/** A status body as a {@link LiveJob} (the payload, which never changes and can be big, dropped). */
function liveJob(body: StatusBody): LiveJob {
  const { payload: _payload, ...job } = body.job;
  return { ...job, canCancel: body.canCancel, canRetry: body.canRetry };
}

/** A job of `GET /v1/jobs` (no permissions in lists: the same rule, applied here). */
function listedJob(job: StatusBody['job']): LiveJob {
  return liveJob({ job, canCancel: canCancel(job), canRetry: canRetry(job) });
}

const parseEvent = <T>(event: ServerSentEvent): T => JSON.parse(event.data) as T;
const byNewest = (a: LiveJob, b: LiveJob) => b.createdAt.localeCompare(a.createdAt);
/** `GET /v1/jobs` pages hold at most this many: the active list shows the newest of each status. */
const PAGE = 100;

/**
 * A client for the live routes of one jobdeck, with one set of credentials. Browser-safe: it uses
 * only `fetch` and web streams.
 */
export function createLiveClient(options: LiveClientOptions = {}): LiveClient {
  const { request } = makeRequester(options);
  const path = (id: string) => encodeURIComponent(id);

  const readActive = async (read: Requester, filter: ActiveJobsFilter) => {
    const pages = await Promise.all(
      ACTIVE_STATUSES.map((status) => {
        const query = new URLSearchParams({ status, pageSize: String(PAGE) });
        if (filter.type) query.set('jobType', filter.type);
        return read<{ jobs: StatusBody['job'][] }>(`/v1/jobs?${query}`);
      }),
    );
    return pages.flatMap((page) => page.jobs.map(listedJob)).sort(byNewest);
  };

  return {
    options,
    followJob: (id) =>
      openFeed<LiveJob | null>(options, {
        initial: null,
        stream: `/v1/jobs/${path(id)}/events`,
        read: async (read) => liveJob(await read<StatusBody>(`/v1/jobs/${path(id)}/status`)),
        apply: (event, job) => (event.event === 'job' ? liveJob(parseEvent(event)) : job),
        isDone: (job) => job !== null && isFinished(job),
      }),

    followBatch: (id) =>
      openFeed<LiveBatch | null>(options, {
        initial: null,
        stream: `/api/v2/batches/${path(id)}/events`,
        read: (read) => read<LiveBatch>(`/api/v2/batches/${path(id)}`),
        apply: (event, batch) => (event.event === 'batch' ? parseEvent<LiveBatch>(event) : batch),
        isDone: (batch) => batch !== null && batch.status !== 'running',
      }),

    followActiveJobs: (filter = {}) =>
      openFeed<LiveJob[]>(options, {
        initial: [],
        stream: '/v1/jobs/events',
        readOnOpen: true,
        read: (read) => readActive(read, filter),
        apply(event, jobs) {
          if (event.event !== 'job') return jobs;
          const job = liveJob(parseEvent(event));
          const others = jobs.filter((known) => known.id !== job.id);
          if (isFinished(job) || (filter.type && job.jobType !== filter.type)) return others;
          return [...others, job].sort(byNewest);
        },
      }),

    followBackgroundJobs: () =>
      openFeed<BackgroundJob[]>(options, {
        initial: [],
        stream: '/v1/jobs/events',
        readOnOpen: true,
        // a completed job leaves the list a few minutes after it finished, with no event
        refreshEveryMs: 60_000,
        read: (read) => read<BackgroundJob[]>('/api/v2/jobs/active'),
        apply(event, jobs) {
          if (event.event !== 'job') return jobs;
          const { job } = parseEvent<StatusBody>(event);
          // a job not listed yet: its category and filename come from the widget's route
          if (!jobs.some((known) => known.id === job.id)) return 'reread';
          return jobs.map((known) =>
            known.id === job.id
              ? { ...known, status: WIDGET_STATUS[job.status], progress: job.progress }
              : known,
          );
        },
      }),

    async cancelJob(id) {
      await request(`/v1/jobs/${path(id)}/cancel`, { method: 'POST' });
    },
    cancelBatch: (id) =>
      request<LiveBatch>(`/api/v2/batches/${path(id)}/cancel`, { method: 'POST' }),
  };
}
