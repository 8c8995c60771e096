import { describe, expect, it } from 'vitest';
import { planConnections } from '../../src/db/connections.ts';

describe('planConnections()', () => {
  it('gives jobdeck start one main pool, the API pool, Graphile Worker’s and one LISTEN connection', () => {
    expect(planConnections({ worker: { concurrency: 10 }, server: true })).toEqual({
      graphileWorker: { max: 14, applicationName: 'jobdeck-worker' },
      main: { max: 9, applicationName: 'jobdeck-main', searchPath: 'pg_catalog, pg_temp' },
      api: { max: 10, applicationName: 'jobdeck-api', searchPath: 'pg_catalog, pg_temp' },
      listener: true,
    });
  });

  it('sizes each pool for the parts a process runs', () => {
    const worker = planConnections({ worker: { concurrency: 50 } });
    expect(worker).toMatchObject({
      graphileWorker: { max: 54 },
      main: { max: 6 },
      api: null,
      listener: true,
    });
    const server = planConnections({ server: true });
    expect(server).toMatchObject({ graphileWorker: null, main: { max: 3 }, api: { max: 10 } });
    expect(planConnections({})).toEqual({
      graphileWorker: null,
      main: { max: 3, applicationName: 'jobdeck-migrate' },
      api: null,
      listener: false,
    });
    expect(planConnections({ client: true })).toEqual({
      graphileWorker: null,
      main: { max: 10, applicationName: 'jobdeck-client' },
      api: null,
      listener: true,
    });
  });
});
