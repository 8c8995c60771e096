import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { readMigrations } from '../db/migrate.ts';
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
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const checks: Record<string, Check> = {};
    try {
      await options.ownerPool.query('select 1');
      checks['database'] = { ok: true, message: 'reachable' };
    } catch (error) {
      // details go to the log, not to whoever asks
      options.logger?.warn(`readyz: database unreachable: ${(error as Error).message}`);
      checks['database'] = { ok: false, message: 'unreachable' };
    }
    if (checks['database']!.ok) {
      try {
        const shipped = await readMigrations();
        const { rows } = await options.ownerPool.query<{ name: string }>(
          'select name from jobdeck_private.migrations',
        );
        const applied = new Set(rows.map((row) => row.name));
        const missing = shipped.filter((file) => !applied.has(file.name)).map((file) => file.name);
        checks['migrations'] =
          missing.length === 0
            ? { ok: true, message: `${shipped.length} applied` }
            : { ok: false, message: `not applied: ${missing.join(', ')}` };
      } catch (error) {
        options.logger?.warn(`readyz: migrations check failed: ${(error as Error).message}`);
        checks['migrations'] = { ok: false, message: 'could not be checked' };
      }
      try {
        const { rows } = await options.ownerPool.query<{ alive: number }>(
          `select count(*)::int as alive from jobdeck_private.workers
            where heartbeat_at > now() - make_interval(secs => $1) and stopping_at is null`,
          [options.workerStaleMs / 1000],
        );
        const alive = rows[0]!.alive;
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
