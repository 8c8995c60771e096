import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Job } from '../db/types.ts';
import type { Identity } from '../graphql/auth.ts';
import { type JobChangeHub, type JobChangeTopic, normalizeUuid } from '../live/job-changes.ts';
import { HttpError } from './rest/errors.ts';
import { c4Job, c4Permissions } from './rest/serialize.ts';
import { withIdentity } from './scoped.ts';

export interface SseOptions {
  apiPool: pg.Pool;
  changes: JobChangeHub;
  identityOf(request: FastifyRequest): Identity | null;
  /** Milliseconds between `: ping` comments that keep proxies from closing idle streams. */
  heartbeatMs?: number;
}

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What each `job` event carries: the C4 status body, so a frontend can reuse its poll handler. */
const statusBody = (job: Job) => ({
  job: c4Job(job),
  progress: job.progress,
  ...c4Permissions(job),
});

/**
 * Server-sent events, pushed from LISTEN/NOTIFY through the same hub (and the same identity
 * checks) as GraphQL subscriptions; every change is re-read with the caller's rights.
 *
 * - `GET /v1/jobs/:id/events`: `event: job` with the job's status body now and after each change,
 *   then `event: end` once it has finished;
 * - `GET /v1/jobs/events`: `event: job` for each change of any of the caller's jobs.
 *
 * Both send `: ping` comments every 15 s, `event: expired` when the token expires (then close),
 * and re-read after the server's listener reconnects, so nothing a client shows goes stale.
 */
export function registerSseRoutes(app: FastifyInstance, options: SseOptions): void {
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  // Streams never finish on their own; a closing server ends them (else close would wait forever).
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of open) end();
  });

  const requireIdentity = (request: FastifyRequest) => {
    const identity = options.identityOf(request);
    if (!identity)
      throw new HttpError(401, 'unauthorized', 'sign in: send Authorization: Bearer <token>');
    return identity;
  };
  const readJob = (identity: Identity, id: string) =>
    withIdentity(options.apiPool, identity, ({ db }) =>
      db.selectFrom('jobdeck.jobs').selectAll().where('id', '=', id).executeTakeFirst(),
    );

  /** Opens the stream and runs `pump` until it returns, the client leaves or the token expires. */
  const stream = async (
    request: FastifyRequest,
    reply: FastifyReply,
    topic: JobChangeTopic,
    /** Read after the subscription is in place, so no change between the two is missed. */
    initial: (() => Promise<Job | undefined>) | null,
    onChange: (id: string | null, send: (event: string, data: unknown) => void) => Promise<boolean>,
  ) => {
    const events = await options.changes.subscribe(JSON.stringify(topic));
    let seq = 0;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const send = (event: string, data: unknown) => {
      seq += 1;
      res.write(`id: ${seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const heartbeat = setInterval(() => res.write(': ping\n\n'), heartbeatMs);
    heartbeat.unref();
    const close = () => void events.return?.();
    request.raw.on('close', close);
    open.add(close);
    try {
      res.write(`retry: 2000\n\n`);
      const first = initial ? await initial() : undefined;
      if (initial && !first) return;
      if (first) {
        send('job', statusBody(first));
        if (FINISHED.has(first.status)) {
          send('end', { id: first.id, status: first.status });
          return;
        }
      }
      for await (const event of events) {
        if (event.kind === 'expired') {
          send('expired', { message: 'your token expired; reconnect with a new one' });
          return;
        }
        if (!(await onChange(event.kind === 'changed' ? event.id : null, send))) return;
      }
    } catch (error) {
      send('error', { message: (error as Error).message });
    } finally {
      clearInterval(heartbeat);
      open.delete(close);
      request.raw.off('close', close);
      await events.return?.();
      res.end();
    }
  };

  app.get('/v1/jobs/events', async (request, reply) => {
    const identity = requireIdentity(request);
    const topic: JobChangeTopic = {
      kind: 'owner',
      orgId: identity.orgId,
      ownerId: identity.userId,
      expiresAt: identity.expiresAt.getTime(),
    };
    await stream(request, reply, topic, null, async (id, send) => {
      if (id === null) {
        send('reconnected', { message: 'changes may have been missed; re-read what you show' });
        return true;
      }
      const job = await readJob(identity, id);
      if (job) send('job', statusBody(job));
      return true;
    });
  });

  app.get('/v1/jobs/:id/events', async (request, reply) => {
    const identity = requireIdentity(request);
    const raw = (request.params as { id?: string }).id ?? '';
    if (!UUID.test(raw))
      throw new HttpError(400, 'invalid_request', 'invalid path: id: must be a job id (a UUID)');
    const id = normalizeUuid(raw);
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
      topic,
      () => readJob(identity, id),
      async (_changed, send) => {
        const now = await readJob(identity, id);
        if (!now) return false;
        send('job', statusBody(now));
        if (FINISHED.has(now.status)) {
          send('end', { id, status: now.status });
          return false;
        }
        return true;
      },
    );
  });
}
