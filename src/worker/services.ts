import type pg from 'pg';
import type { JobChannels } from '../live/channels.ts';
import type { PgListener } from '../live/listener.ts';
import type { Logger } from '../logger.ts';
import type { ActiveJobs } from './active.ts';
import { CancelListener } from './cancel-listener.ts';
import { Heartbeat } from './heartbeat.ts';
import { HELD_RELEASE_EVERY, HeldRelease } from './held-release.ts';
import { HISTORY_EVERY, HistoryMover } from './history.ts';
import { ORPHAN_SWEEP_EVERY, OrphanSweep } from './orphan-sweep.ts';
import { Rescuer } from './rescuer.ts';
import { ServiceRunner } from './service-runner.ts';
import type { StartGate } from './start-data.ts';
import { TYPE_STATS_EVERY, TypeStatsRefresh } from './type-stats.ts';

/** Options of {@link startWorkerServices}: what the worker's services share. */
export interface WorkerServicesOptions {
  /** The process's main pool (owner's rights). */
  pool: pg.Pool;
  /** The process's LISTEN connection. */
  listener: PgListener;
  /** The database's NOTIFY channels (the cancel channel's name is secret-derived). */
  channels: JobChannels;
  workerId: string;
  active: ActiveJobs;
  logger: Logger;
  /** What decides starts without a read: polled at each heartbeat, told of hints by the cancel listener. */
  gate: StartGate;
  heartbeatIntervalMs: number;
  rescueAfterMs: number;
  concurrency: number;
  taskTypes: string[];
  /** Graphile Worker's pool id, once its pool exists. */
  poolId: () => string | null;
  /** When finished jobs move to their history partitions (the history service). */
  history: { afterSeconds: number; succeededDays: number; failedDays: number };
}

/** The worker's background services, started. */
export interface WorkerServices {
  /** Shows the worker as stopping in the workers list, from the next heartbeat on. */
  markStopping(): void;
  /** Stops the services, then removes this worker's row (call once its jobs have finished). */
  stop(): Promise<void>;
}

/**
 * Starts a worker's background services: the cancel listener, then the heartbeat (which registers
 * the worker), the rescuer, the release of held jobs, the type stats refresh, the orphan sweep and the history mover,
 * each on its own interval (a multiple of the heartbeat interval, as each file says).
 */
export async function startWorkerServices(o: WorkerServicesOptions): Promise<WorkerServices> {
  const { pool, logger, heartbeatIntervalMs: beat, rescueAfterMs } = o;
  const heartbeat = new Heartbeat({ ...o, intervalMs: beat });
  const cancels = new CancelListener(o);
  const runner = new ServiceRunner(
    [
      heartbeat,
      o.gate,
      new Rescuer({ ...o, intervalMs: beat, healthySince: () => heartbeat.healthySince }),
      new HeldRelease({ pool, intervalMs: beat * HELD_RELEASE_EVERY }),
      new TypeStatsRefresh({ pool, intervalMs: beat * TYPE_STATS_EVERY }),
      new OrphanSweep({ pool, logger, rescueAfterMs, intervalMs: beat * ORPHAN_SWEEP_EVERY }),
      new HistoryMover({
        ...o.history,
        pool,
        logger,
        intervalMs: beat * HISTORY_EVERY,
        catchUpIntervalMs: beat,
      }),
    ],
    logger,
  );
  const stop = async () => {
    await runner.stop();
    await cancels.stop();
    await heartbeat.unregister();
  };
  try {
    await cancels.start();
    await runner.start();
  } catch (error) {
    await stop();
    throw error;
  }
  return { markStopping: () => heartbeat.markStopping(), stop };
}
