import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { createDb } from '../db/pool.ts';
import { countWorkers, pingDatabase, unappliedMigrations } from '../jobs/monitoring.ts';
import type { Logger } from '../logger.ts';

export interface HealthOptions {
  logger?: Logger | undefined;
  ownerPool: pg.Pool;
  /** A worker whose heartbeat is older than this counts as gone. */
  workerStaleMs: number;
}

interface Check {
  ok: boolean;
  message: string;
}

/**
 * `GET /healthz`: the process is up (for liveness probes). `GET /readyz`: it can do its job — the
 * database answers, every migration shipped with this build is applied, and at least one worker
 * heartbeat is fresh (else enqueued jobs would wait). 200 or 503, with each check's verdict.
 */
export function registerHealth(app: FastifyInstance, options: HealthOptions): void {
  const db = createDb(options.ownerPool);
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const checks: Record<string, Check> = {};
    try {
      await pingDatabase(db);
      checks['database'] = { ok: true, message: 'reachable' };
    } catch (error) {
      // details go to the log, not to whoever asks
      options.logger?.warn(`readyz: database unreachable: ${(error as Error).message}`);
      checks['database'] = { ok: false, message: 'unreachable' };
    }
    if (checks['database']!.ok) {
      try {
        const { shipped, missing } = await unappliedMigrations(db);
        checks['migrations'] =
          missing.length === 0
            ? { ok: true, message: `${shipped} applied` }
            : { ok: false, message: `not applied: ${missing.join(', ')}` };
      } catch (error) {
        options.logger?.warn(`readyz: migrations check failed: ${(error as Error).message}`);
        checks['migrations'] = { ok: false, message: 'could not be checked' };
      }
      try {
        // alive and not stopping: able to take the jobs enqueued now
        const alive = (await countWorkers(db, options.workerStaleMs)).ready;
        checks['workers'] =
          alive > 0
            ? { ok: true, message: `${alive} alive` }
            : { ok: false, message: 'no worker has sent a heartbeat recently; jobs would wait' };
      } catch (error) {
        options.logger?.warn(`readyz: workers check failed: ${(error as Error).message}`);
        checks['workers'] = { ok: false, message: 'could not be checked' };
      }
    }
    const ready =
      Object.values(checks).every((check) => check.ok) && Object.keys(checks).length === 3;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });
}
