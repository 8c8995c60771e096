import type { FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { WebSocket } from 'ws';
import type { Job } from '../db/types.ts';
import type { Identity } from '../auth/identity.ts';
import type { DownloadLinks } from '../auth/download-links.ts';
import { viewJob } from './job-view.ts';
import { withIdentity } from '../auth/scoped.ts';
import { verifyToken } from '../auth/tokens.ts';
import { UnauthorizedError } from '../errors.ts';
import { isJobId } from '../jobs/ids.ts';
import { findJob } from '../jobs/repository.ts';
import { isFinished } from '../jobs/states.ts';
import { JobChangeHub, type JobChangeTopic, normalizeUuid } from '../live/job-changes.ts';
import { osintJob } from './rest/osint.ts';

/** Where seed 003's frontend opens its websocket (below jobdeck's prefix). */
export const JOB_SOCKET_PATH = '/ws/jobs';

export interface JobSocketOptions {
  apiPool: pg.Pool;
  /** Signs exports' download links for the socket's caller (see src/http/job-view.ts). */
  links?: DownloadLinks | null;
  changes: JobChangeHub;
  /**
   * The caller the server's hook identified at the upgrade (the `Authorization` header, or the
   * application's `identify`); null: none. A bad header was refused with 401 before the upgrade.
   */
  identityOf(request: FastifyRequest): Identity | null;
  /** Verifies a `?token=` (browsers cannot set headers); null: tokens are not accepted (`identify`). */
  jwtSecret: string | null;
  /** Milliseconds between ping frames that keep proxies from closing idle sockets. */
  heartbeatMs: number;
  /** Sockets one user may hold open at once on this server. */
  maxPerUser: number;
}

/** The messages the socket sends (seed 003's `JobNotificationService`'s three notifications). */
export type JobSocketMessage = JobNotification | JobSocketError;

/** A change of the job: `data` is the job as seed 003's `Job` model writes it. */
export interface JobNotification {
  type: 'progress_update' | 'job_completed' | 'job_failed';
  job_id: string;
  data: ReturnType<typeof osintJob>;
}

/** Sent just before a close with a 4xxx or 1011 code: `{error, message}` as the REST routes. */
export interface JobSocketError {
  type: 'error';
  job_id: string | null;
  error: string;
  message: string;
}

/** Close codes: 1000 the job finished; 4xxx mirror the HTTP statuses of the same refusals. */
export const CLOSE = {
  finished: 1000,
  unavailable: 1011,
  tooSlow: 1013,
  badRequest: 4400,
  unauthorized: 4401,
  notFound: 4404,
  tooMany: 4429,
} as const;

/** Bytes a client may leave unread before it is dropped (it can reconnect and re-read). */
const MAX_UNREAD_BYTES = 1024 * 1024;

/** The notification a job's state makes: completion and failure are final, the rest progress. */
export function socketMessageOf(job: Job): JobNotification {
  const type =
    job.status === 'succeeded'
      ? 'job_completed'
      : job.status === 'failed'
        ? 'job_failed'
        : 'progress_update';
  return { type, job_id: job.id, data: osintJob(job) };
}

/**
 * Seed 003's `WebSocket /ws/jobs/{job_id}`: the job in the seed's `Job` shape now, then after
 * every change (`progress_update`), and at its end `job_completed` or `job_failed` (a cancelled
 * job: a last `progress_update` with status CANCELLED), then a close with 1000.
 *
 * Identity as the event streams: the `Authorization` header at the upgrade (or the application's
 * `identify`), or `?token=` for browsers. Isolation as the event streams: the hub passes on
 * changes of the caller's jobs only, and every change is re-read with the caller's rights; another
 * tenant's job closes 4404 exactly like an unknown one. Notifications are hints: a burst of
 * changes is re-read once, and only a row that differs from the last one sent is sent.
 */
export function registerJobSocket(app: FastifyInstance, options: JobSocketOptions): void {
  const perUser = new Map<string, number>();

  const authenticate = async (request: FastifyRequest): Promise<Identity> => {
    const identity = options.identityOf(request);
    if (identity) return identity;
    const token = (request.query as Record<string, unknown> | undefined)?.['token'];
    if (token === undefined || token === '')
      throw new UnauthorizedError(
        options.jwtSecret
          ? 'sign in: send Authorization: Bearer <token>, or ?token=<token>'
          : 'sign in to the application first',
      );
    if (!options.jwtSecret)
      throw new UnauthorizedError('tokens are not accepted here: sign in to the application');
    if (typeof token !== 'string') throw new UnauthorizedError('send one ?token=, not several');
    return verifyToken(token, options.jwtSecret);
  };

  const serve = async (socket: WebSocket, request: FastifyRequest) => {
    let closed = false;
    // Resolves the main loop's wait for a change (or the close).
    const waiting: { wake: (() => void) | null } = { wake: null };
    const onClose = () => {
      closed = true;
      waiting.wake?.();
    };
    socket.on('close', onClose);
    const send = (message: JobSocketMessage) => {
      if (closed) return;
      socket.send(JSON.stringify(message));
      if (socket.bufferedAmount > MAX_UNREAD_BYTES) {
        end(CLOSE.tooSlow, 'client too slow: reconnect and re-read');
        setTimeout(() => socket.terminate(), 5_000).unref();
      }
    };
    const end = (code: number, reason: string) => {
      if (closed) return;
      closed = true;
      // A close reason holds at most 123 bytes.
      socket.close(code, Buffer.from(reason).subarray(0, 123).toString());
    };
    const refuse = (code: number, jobId: string | null, error: string, message: string) => {
      send({ type: 'error', job_id: jobId, error, message });
      end(code, message);
    };

    let identity: Identity;
    try {
      identity = await authenticate(request);
    } catch (error) {
      if (!(error instanceof UnauthorizedError)) throw error;
      return refuse(CLOSE.unauthorized, null, 'unauthorized', error.message);
    }
    const raw = (request.params as { job_id?: string }).job_id ?? '';
    if (!isJobId(raw))
      return refuse(CLOSE.badRequest, null, 'invalid_request', 'job_id must be a job id (a UUID)');
    const id = normalizeUuid(raw);

    const userKey = JSON.stringify([identity.orgId, identity.userId]);
    const held = perUser.get(userKey) ?? 0;
    if (held >= options.maxPerUser)
      return refuse(
        CLOSE.tooMany,
        id,
        'too_many_streams',
        `at most ${options.maxPerUser} job sockets per user at once; close one first`,
      );
    perUser.set(userKey, held + 1);

    const topic: JobChangeTopic =
      identity.role === 'admin'
        ? { kind: 'org', orgId: identity.orgId, jobId: id }
        : { kind: 'owner', orgId: identity.orgId, ownerId: identity.userId, jobId: id };
    topic.expiresAt = identity.expiresAt.getTime();
    let subscription: AsyncIterableIterator<{ kind: string }> | null = null;
    const ping = setInterval(() => {
      if (!closed) socket.ping();
    }, options.heartbeatMs);
    ping.unref();
    try {
      // Subscribe first, then read: a change between the two is not missed.
      subscription = await options.changes.subscribe(JobChangeHub.topic(topic));
      let dirty = true;
      let expired = false;
      const changes = subscription;
      void (async () => {
        for await (const event of changes) {
          if (event.kind === 'expired') expired = true;
          dirty = true;
          waiting.wake?.();
        }
      })();
      let last = '';
      while (!closed) {
        if (!dirty) {
          await new Promise<void>((resolve) => (waiting.wake = resolve));
          waiting.wake = null;
          continue;
        }
        dirty = false;
        if (expired)
          return refuse(
            CLOSE.unauthorized,
            id,
            'token_expired',
            'your token expired; reconnect with a new one',
          );
        let job: Job | undefined;
        try {
          job = await withIdentity(options.apiPool, identity, ({ db }) => findJob(db, id));
          if (job) job = viewJob(job, identity, options.links ?? null);
        } catch {
          return refuse(
            CLOSE.unavailable,
            id,
            'unavailable',
            'the database is unavailable; reconnect in a moment',
          );
        }
        if (closed) return;
        if (!job) return refuse(CLOSE.notFound, id, 'not_found', `job ${id} not found`);
        const message = socketMessageOf(job);
        const text = JSON.stringify(message);
        if (text !== last) {
          last = text;
          send(message);
        }
        if (isFinished(job)) return end(CLOSE.finished, `job ${message.data.status}`);
      }
    } finally {
      clearInterval(ping);
      socket.off('close', onClose);
      await subscription?.return?.();
      const left = (perUser.get(userKey) ?? 1) - 1;
      if (left > 0) perUser.set(userKey, left);
      else perUser.delete(userKey);
    }
  };

  app.route({
    method: 'GET',
    url: `${JOB_SOCKET_PATH}/:job_id`,
    // A plain GET (no upgrade) is told what to do instead of getting an empty 404.
    handler: async (_request, reply) =>
      reply.code(426).header('upgrade', 'websocket').send({
        error: 'upgrade_required',
        message: 'this is a websocket: connect with Upgrade: websocket',
      }),
    wsHandler: (socket, request) =>
      serve(socket, request).catch(() => {
        if (socket.readyState === socket.OPEN)
          socket.close(CLOSE.unavailable, 'an internal error occurred');
      }),
  });
}
