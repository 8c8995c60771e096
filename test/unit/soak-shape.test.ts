import { describe, expect, it } from 'vitest';
import { baseName, processFigures } from '../../soak/per-process.ts';
import type { JobdeckProcess } from '../../soak/processes.ts';
import {
  maxConnectionsFor,
  parseFleetShape,
  SHAPE_DEFAULTS,
  throughPgBouncer,
} from '../../soak/shape.ts';

describe('parseFleetShape()', () => {
  it('keeps the soak’s defaults when no flag is given', () => {
    expect(parseFleetShape({})).toEqual(SHAPE_DEFAULTS);
  });

  it('reads --workers, --servers and --no-pgbouncer', () => {
    expect(parseFleetShape({ workers: '6', servers: '3', pgbouncer: false })).toEqual({
      workers: 6,
      servers: 3,
      pgbouncer: false,
    });
  });

  it.each([
    [{ workers: '1' }, /--workers must be a whole number from 2 to 16, not "1".*keep running/],
    [{ workers: '17' }, /--workers .* not "17"/],
    [{ workers: '2.5' }, /--workers .* not "2.5"/],
    [{ servers: '0' }, /--servers must be a whole number from 1 to 8, not "0"/],
    [{ servers: 'three' }, /--servers .* not "three"/],
    [{ servers: '' }, /--servers .* not ""/],
  ])('refuses %j with a message naming the flag', (flags, message) => {
    expect(() => parseFleetShape(flags)).toThrow(message);
  });
});

describe('throughPgBouncer()', () => {
  const shape = { workers: 6, servers: 3, pgbouncer: true };

  it('sends server-1 and worker-1, and their replacements, through PgBouncer', () => {
    for (const name of ['server-1', 'worker-1', 'worker-1.r2'])
      expect(throughPgBouncer(shape, name)).toBe(true);
    for (const name of ['server-2', 'worker-10', 'worker-6'])
      expect(throughPgBouncer(shape, name)).toBe(false);
  });

  it('sends nothing through it with --no-pgbouncer', () => {
    expect(throughPgBouncer({ ...shape, pgbouncer: false }, 'server-1')).toBe(false);
  });
});

describe('maxConnectionsFor()', () => {
  it('grows with the workers (one spare for the replacement) and the servers', () => {
    expect(maxConnectionsFor({ workers: 3, servers: 2, pgbouncer: true }, 25)).toBe(284);
    expect(maxConnectionsFor({ workers: 6, servers: 3, pgbouncer: true }, 25)).toBe(412);
  });
});

describe('processFigures()', () => {
  const proc = (name: string, kind: 'worker' | 'serve', pid: number) =>
    ({ name, kind, pid, exit: null, expectedExit: false }) as unknown as JobdeckProcess;

  it('gives workers their finished jobs and servers their enqueues and events, with the route', () => {
    const figures = processFigures({
      processes: [proc('worker-1.r1', 'worker', 11), proc('server-2', 'serve', 22)],
      routes: new Map([
        ['worker-1', 'pgbouncer'],
        ['server-2', 'direct'],
      ]),
      finishedByPid: new Map([[11, 500]]),
      api: new Map([['server-2', { enqueued: 40, errors: 1 }]]),
      streams: [
        { name: 'sse@server-2', events: 30 },
        { name: 'graphql@server-2', events: 12 },
        { name: 'sse@server-1', events: 99 },
      ] as never,
      runSeconds: 100,
    });
    expect(figures).toEqual([
      expect.objectContaining({
        name: 'worker-1.r1',
        via: 'pgbouncer',
        jobs_finished: 500,
        jobs_per_sec: 5,
      }),
      expect.objectContaining({
        name: 'server-2',
        via: 'direct',
        api_enqueues: 40,
        api_errors: 1,
        stream_events: 42,
      }),
    ]);
  });

  it('finds the base name of a replacement', () => {
    expect(baseName('worker-3.r1.r2')).toBe('worker-3');
  });
});
