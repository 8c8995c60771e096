/**
 * The fault soak's fleet: how many `jobdeck worker` and `jobdeck serve` processes it runs, and
 * which of them connect through the PgBouncer it starts (`--workers N --servers M
 * --no-pgbouncer`). Pure, so the flags can be tested without running a soak.
 */
export interface FleetShape {
  workers: number;
  servers: number;
  /** Whether server-1 and worker-1 connect through a PgBouncer in transaction mode. */
  pgbouncer: boolean;
}

/** The flags as `parseArgs` hands them over. */
export interface ShapeFlags {
  workers?: string | undefined;
  servers?: string | undefined;
  pgbouncer?: boolean | undefined;
}

export const SHAPE_DEFAULTS: FleetShape = { workers: 3, servers: 2, pgbouncer: true };

/** Limits that keep the run inside one machine's PostgreSQL (max_connections, memory). */
export const SHAPE_LIMITS = { workers: { min: 2, max: 16 }, servers: { min: 1, max: 8 } };

function count(flag: 'workers' | 'servers', text: string | undefined): number {
  if (text === undefined) return SHAPE_DEFAULTS[flag];
  const { min, max } = SHAPE_LIMITS[flag];
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(
      `--${flag} must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}` +
        (flag === 'workers' ? ' (one worker is killed: another must keep running)' : ''),
    );
  return n;
}

/** The fleet the flags ask for; throws an Error whose message names the bad flag. */
export function parseFleetShape(flags: ShapeFlags): FleetShape {
  return {
    workers: count('workers', flags.workers),
    servers: count('servers', flags.servers),
    pgbouncer: flags.pgbouncer ?? SHAPE_DEFAULTS.pgbouncer,
  };
}

/** Whether the process called `name` (`server-1`, `worker-1.r2`, …) connects through PgBouncer. */
export function throughPgBouncer(shape: FleetShape, name: string): boolean {
  return shape.pgbouncer && /^(server|worker)-1(\.r\d+)?$/.test(name);
}

/**
 * PostgreSQL's max_connections for the fleet: each worker holds up to its concurrency + 11
 * connections (one more worker for the replacement after the kill), each server up to 20, the
 * soak's own pools and PgBouncer's share the rest.
 */
export function maxConnectionsFor(shape: FleetShape, concurrency: number): number {
  return 100 + (shape.workers + 1) * (concurrency + 11) + shape.servers * 20;
}
