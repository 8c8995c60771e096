import { mkdtemp, rm, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { findEmbeddedPostgres, startEmbeddedPostgres } from '../../src/db/embedded.ts';

describe('embedded PostgreSQL', () => {
  it(
    'initialises once, is found by other processes, is reused, and keeps its data across restarts',
    { timeout: 120_000 },
    async () => {
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'jobdeck-embedded-'));
      await chmod(dataDir, 0o755);
      try {
        expect(await findEmbeddedPostgres(dataDir)).toBeNull();
        const first = await startEmbeddedPostgres({ dataDir });
        expect(first.startedHere).toBe(true);
        expect(await findEmbeddedPostgres(dataDir)).toBe(first.url);

        const again = await startEmbeddedPostgres({ dataDir });
        expect(again).toMatchObject({ startedHere: false, url: first.url });

        const client = new pg.Client({ connectionString: first.url });
        await client.connect();
        await client.query('create table kept (v text)');
        await client.query(`insert into kept values ('still here')`);
        await client.end();
        await first.stop();
        expect(await findEmbeddedPostgres(dataDir)).toBeNull();

        const restarted = await startEmbeddedPostgres({ dataDir });
        expect(restarted.startedHere).toBe(true);
        const reader = new pg.Client({ connectionString: restarted.url });
        await reader.connect();
        expect((await reader.query('select v from kept')).rows).toEqual([{ v: 'still here' }]);
        await reader.end();
        await restarted.stop();
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  );
});
