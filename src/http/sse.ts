import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Job } from '../db/types.ts';
import type { Identity } from '../auth/identity.ts';
import { withIdentity } from '../auth/scoped.ts';
import type { DownloadLinks } from '../auth/download-links.ts';
import { viewJob } from './job-view.ts';
import { findJob } from '../jobs/repository.ts';
import { isFinished } from '../jobs/states.ts';
import { type JobChangeHub, type JobChangeTopic, normalizeUuid } from '../live/job-changes.ts';
import { HttpError } from './rest/errors.ts';
import { jobIdParams, parse, requireIdentity } from './rest/requests.ts';
import { c4Job, c4Permissions } from './rest/serialize.ts';

export interface SseOptions {
  apiPool: pg.Pool;
  /** Signs exports' download links for the stream's caller (see src/http/job-view.ts). */
  links?: DownloadLinks | null;
  changes: JobChangeHub;
  identityOf(request: FastifyRequest): Identity | null;
  /** Milliseconds between `: ping` comments that keep proxies from closing idle streams. */
  heartbeatMs?: number;
  /** Streams one user may hold open at once on this server (429 beyond). */
  maxStreamsPerUser?: number;
}

/** The headers of an event stream (sent to HEAD as well). */
const STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

/** Bytes a client may leave unread before its stream is dropped (it can reconnect and re-read). */
const MAX_UNREAD_BYTES = 1024 * 1024;

/**
 * What each `job` event carries: the C4 status body without the payload (which can be large and
 * never changes), so a frontend can reuse its poll handler.
 */
const statusBody = (job: Job) => {
  const { payload: _payload, ...rest } = c4Job(job);
  return { job: rest, progress: job.progress, ...c4Permissions(job) };
};

/**
 * Server-sent events, pushed from LISTEN/NOTIFY through the same hub (and the same identity
 * checks) as GraphQL subscriptions; every change is re-read with the caller's rights.
 *
 * - `GET /v1/jobs/:id/events`: `event: job` with the job's status body now and after each change
 *   (re-read after a listener reconnect too), then `event: end` once it has finished;
 * - `GET /v1/jobs/events`: `event: job` for each change of any of the caller's jobs, and
 *   `event: reconnected` when changes may have been missed.
 *
 * Both send `: ping` comments, `event: expired` when the token expires (then close), end when the
 * server shuts down, and drop a client that leaves more than 1 MiB unread. HEAD answers at once
 * with the status and headers GET would have (401, 404, 429 or 200), opening no stream.
 */
export function registerSseRoutes(app: FastifyInstance, options: SseOptions): void {
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const maxPerUser = options.maxStreamsPerUser ?? 20;
  const perUser = new Map<string, number>();
  // Streams never finish on their own; a closing server ends them (else close would wait forever).
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of open) end();
  });

  // Every job a stream sends is read as its caller and shown as that caller sees it.
  const readJob = async (identity: Identity, id: string) => {
    const job = await withIdentity(options.apiPool, identity, ({ db }) => findJob(db, id));
    return job && viewJob(job, identity, options.links ?? null);
  };

  /**
   * Opens the stream and runs until `onChange` says stop, the client leaves, the token expires or
   * the server closes. The client going away is watched from the first moment, so a client that
   * leaves while the stream is being set up leaves nothing behind.
   */
  const stream = async (
    request: FastifyRequest,
    reply: FastifyReply,
    identity: Identity,
    topic: JobChangeTopic,
    /** Read after the subscription is in place, so no change between the two is missed. */
    initial: (() => Promise<Job | undefined>) | null,
    onChange: (id: string | null, send: (event: string, data: unknown) => void) => Promise<boolean>,
  ) => {
    const userKey = JSON.stringify([identity.orgId, identity.userId]);
    const held = perUser.get(userKey) ?? 0;
    if (held >= maxPerUser)
      throw new HttpError(
        429,
        'too_many_streams',
        `at most ${maxPerUser} event streams per user at once; close one first`,
      );
    // HEAD: what GET would answer, at once, without opening a stream or holding one of the
    // caller's slots.
    if (request.method === 'HEAD') return reply.code(200).headers(STREAM_HEADERS).send();
    perUser.set(userKey, held + 1);
    const res = reply.raw;
    let gone = false;
    let events: AsyncIterableIterator<unknown> | null = null;
    const end = () => {
      gone = true;
      void events?.return?.();
    };
    res.on('close', end);
    // It may have left already, during an earlier await ('close' would not come again).
    if (!res.socket || res.socket.destroyed) gone = true;
    open.add(end);
    reply.hijack();
    let heartbeat: NodeJS.Timeout | null = null;
    try {
      const subscription = await options.changes.subscribe(JSON.stringify(topic));
      events = subscription;
      if (gone) return;
      res.writeHead(200, STREAM_HEADERS);
      let seq = 0;
      const send = (event: string, data: unknown) => {
        if (gone) return;
        seq += 1;
        res.write(`id: ${seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        if (res.writableLength > MAX_UNREAD_BYTES) end();
      };
      heartbeat = setInterval(() => {
        if (!gone) res.write(': ping\n\n');
      }, heartbeatMs);
      heartbeat.unref();
      res.write(`retry: 2000\n\n`);
      const first = initial ? await initial() : undefined;
      if (gone || (initial && !first)) return;
      if (first) {
        send('job', statusBody(first));
        if (isFinished(first)) {
          send('end', { id: first.id, status: first.status });
          return;
        }
      }
      for await (const event of subscription) {
        if (gone) return;
        if (event.kind === 'expired') {
          send('expired', { message: 'your token expired; reconnect with a new one' });
          return;
        }
        if (!(await onChange(event.kind === 'changed' ? event.id : null, send))) return;
      }
    } catch (error) {
      if (!gone && res.headersSent)
        res.write(
          `event: error\ndata: ${JSON.stringify({ message: (error as Error).message })}\n\n`,
        );
      else if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.write(
          JSON.stringify({ error: 'internal', message: 'the event stream could not start' }),
        );
      }
    } finally {
      if (heartbeat) clearInterval(heartbeat);
      open.delete(end);
      res.off('close', end);
      await events?.return?.();
      const left = (perUser.get(userKey) ?? 1) - 1;
      if (left > 0) perUser.set(userKey, left);
      else perUser.delete(userKey);
      res.end();
    }
  };

  app.get('/v1/jobs/events', async (request, reply) => {
    const identity = requireIdentity(options.identityOf(request));
    const topic: JobChangeTopic = {
      kind: 'owner',
      orgId: identity.orgId,
      ownerId: identity.userId,
      expiresAt: identity.expiresAt.getTime(),
    };
    await stream(request, reply, identity, topic, null, async (id, send) => {
      if (id === null) {
        send('reconnected', { message: 'changes may have been missed; re-read what you show' });
        return true;
      }
      const job = await readOrMiss(() => readJob(identity, id), send);
      if (job && job !== MISSED) send('job', statusBody(job));
      return true;
    });
  });

  app.get('/v1/jobs/:id/events', async (request, reply) => {
    const identity = requireIdentity(options.identityOf(request));
    const id = normalizeUuid(parse(jobIdParams, request.params, 'path').id);
    const topic: JobChangeTopic =
      identity.role === 'admin'
        ? { kind: 'org', orgId: identity.orgId, jobId: id }
        : { kind: 'owner', orgId: identity.orgId, ownerId: identity.userId, jobId: id };
    topic.expiresAt = identity.expiresAt.getTime();
    // A job one may not see is a plain 404 before the stream opens; the stream then subscribes
    // and reads again, so a change between the two reads is not lost.
    if (!(await readJob(identity, id)))
      throw new HttpError(404, 'not_found', `job ${id} not found`);
    await stream(
      request,
      reply,
      identity,
      topic,
      () => readJob(identity, id),
      async (_changed, send) => {
        const now = await readOrMiss(() => readJob(identity, id), send);
        if (now === MISSED) return true;
        if (!now) return false;
        send('job', statusBody(now));
        if (isFinished(now)) {
          send('end', { id, status: now.status });
          return false;
        }
        return true;
      },
    );
  });
}

/** A change whose job could not be read (the database is away). */
const MISSED = Symbol('missed');

/**
 * Reads the job a change announced. When the database cannot answer (a restart, an outage), the
 * stream stays open and tells the client it may have missed changes, as after a listener drop.
 */
async function readOrMiss<T>(
  read: () => Promise<T>,
  send: (event: string, data: unknown) => void,
): Promise<T | typeof MISSED> {
  try {
    return await read();
  } catch {
    send('reconnected', {
      message: 'a change could not be read (the database is unavailable); re-read what you show',
    });
    return MISSED;
  }
}
