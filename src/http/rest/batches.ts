import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { z } from 'zod';
import type { Identity } from '../../auth/identity.ts';
import type { Kysely } from 'kysely';
import { withIdentity, withReadIdentity } from '../../auth/scoped.ts';
import type { Database } from '../../db/types.ts';
import { cancelBatchOn, findBatch, toBatch, type Batch } from '../../batches/batches.ts';
import type { JobChannels } from '../../live/channels.ts';
import type { PgListener } from '../../live/listener.ts';
import { HttpError } from './errors.ts';
import { parse, requireIdentity } from './requests.ts';
import { JOB_ID_PATTERN } from '../../jobs/ids.ts';
import { BatchSchema } from './schemas.ts';
import { callAt } from '../../util/timers.ts';

const batchIdParams = z.object({
  id: z.string().regex(JOB_ID_PATTERN, 'must be a batch id (a UUID)'),
});

type BatchBody = z.infer<typeof BatchSchema>;

/** The REST body of a batch (owner and organisation are the caller's own, so left out). */
export function batchBody(batch: Batch): BatchBody {
  return {
    id: batch.id,
    total: batch.total,
    succeeded: batch.succeeded,
    failed: batch.failed,
    cancelled: batch.cancelled,
    finished: batch.finished,
    percent: batch.percent,
    status: batch.status,
    onCompleteType: batch.onCompleteType,
    onCompleteJobId: batch.onCompleteJobId,
    cancelRequestedAt: batch.cancelRequestedAt?.toISOString() ?? null,
    createdAt: batch.createdAt.toISOString(),
    finishedAt: batch.finishedAt?.toISOString() ?? null,
  };
}

export interface BatchRouteOptions {
  apiPool: pg.Pool;
  /** Where `GET /api/v2/batches/:id` reads (the replica's API pool, or `apiPool`). */
  readPool: pg.Pool;
  identityOf(request: FastifyRequest): Identity | null;
  /** The server's LISTEN connection and the database's channels (batch changes are NOTIFYed). */
  listener: PgListener;
  channels: JobChannels;
  /** Milliseconds between `: ping` comments. */
  heartbeatMs?: number;
}

const STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

/**
 * Batches over REST (docs/rest.md, "Batches"): `GET /api/v2/batches/:id`,
 * `POST /api/v2/batches/:id/cancel` and the event stream `GET /api/v2/batches/:id/events`
 * (`event: batch` now and after each change, `event: end` once every job has finished). Every
 * read is made with the caller's rights (row-level security): another tenant's batch is 404.
 */
export function registerBatchRoutes(app: FastifyInstance, options: BatchRouteOptions): void {
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of open) end();
  });
  const find = async ({ db }: { db: Kysely<Database> }, id: string) => {
    const row = await findBatch(db, id);
    return row && toBatch(row);
  };
  // The event stream's reads stay on the primary, with the notifications they answer.
  const read = async (identity: Identity, id: string) =>
    withIdentity(options.apiPool, identity, (scope) => find(scope, id));
  const target = async (request: FastifyRequest) => {
    const identity = requireIdentity(options.identityOf(request));
    const id = parse(batchIdParams, request.params, 'path').id.toLowerCase();
    return { identity, id };
  };
  const notFound = (id: string) => new HttpError(404, 'not_found', `batch ${id} not found`);

  app.get('/api/v2/batches/:id', async (request) => {
    const { identity, id } = await target(request);
    const batch = await withReadIdentity(options, identity, async (scope) => {
      const found = await find(scope, id);
      if (!found) throw notFound(id); // inside: a batch the replica lacks is looked up again
      return found;
    });
    return batchBody(batch);
  });

  app.post('/api/v2/batches/:id/cancel', async (request) => {
    const { identity, id } = await target(request);
    const batch = await withIdentity(options.apiPool, identity, ({ client }) =>
      cancelBatchOn(client, id),
    );
    return batchBody(batch);
  });

  app.get('/api/v2/batches/:id/events', async (request, reply: FastifyReply) => {
    const { identity, id } = await target(request);
    if (!(await read(identity, id))) throw notFound(id);
    if (request.method === 'HEAD') return reply.code(200).headers(STREAM_HEADERS).send();
    const res = reply.raw;
    let gone = false;
    let wake: (() => void) | null = null;
    let dirty = true;
    const poke = () => {
      dirty = true;
      wake?.();
    };
    const end = () => {
      gone = true;
      wake?.();
    };
    res.on('close', end);
    if (!res.socket || res.socket.destroyed) gone = true;
    open.add(end);
    reply.hijack();
    // A session without an end (the application's `identify`) expires at the end of time.
    const cancelExpiry = callAt(identity.expiresAt.getTime(), () => {
      if (!gone) write('expired', { message: 'your token expired; reconnect with a new one' });
      end();
    });
    const heartbeat = setInterval(() => {
      if (!gone) res.write(': ping\n\n');
    }, heartbeatMs);
    heartbeat.unref();
    let seq = 0;
    const write = (event: string, data: unknown) => {
      seq += 1;
      res.write(`id: ${seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    let unsubscribe: (() => Promise<void>) | null = null;
    const removeReconnect = options.listener.onReconnect(poke);
    try {
      // Subscribe first, then read: a change between the two is not missed.
      unsubscribe = await options.listener.subscribe(options.channels.batch(id), poke);
      if (gone) return;
      res.writeHead(200, STREAM_HEADERS);
      res.write('retry: 2000\n\n');
      let last = '';
      while (!gone) {
        if (!dirty) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
          continue;
        }
        dirty = false;
        let batch: Batch | undefined;
        try {
          batch = await read(identity, id);
        } catch {
          write('reconnected', {
            message: 'a change could not be read (the database is unavailable); re-read the batch',
          });
          continue;
        }
        if (!batch || gone) return;
        const body = batchBody(batch);
        const fingerprint = JSON.stringify(body);
        if (fingerprint !== last) {
          last = fingerprint;
          write('batch', body);
        }
        if (batch.status !== 'running') {
          write('end', { id, status: batch.status });
          return;
        }
      }
    } finally {
      cancelExpiry();
      clearInterval(heartbeat);
      removeReconnect();
      open.delete(end);
      res.off('close', end);
      await unsubscribe?.().catch(() => {});
      res.end();
    }
  });
}
