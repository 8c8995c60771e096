import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresCpuSeconds, postgresIsLocal, postmasterOf } from '../../bench/cpu.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

// The bench's drain figures add PostgreSQL's CPU time, read from /proc, to the worker's own.
describe('postgresCpuSeconds() (bench)', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  it.skipIf(process.platform !== 'linux')(
    "finds the server's postmaster and counts a backend's CPU time, also after it has exited",
    async () => {
      expect(postgresIsLocal(database.url)).toBe(true);
      const { pid } = (await database.pool.query<{ pid: number }>('select pg_backend_pid() as pid'))
        .rows[0]!;
      const postmaster = await postmasterOf(pid);
      expect(postmaster).not.toBeNull();
      expect(await postmasterOf(process.pid)).toBeNull(); // not a PostgreSQL process

      const before = await postgresCpuSeconds(postmaster!);
      expect(before).not.toBeNull();
      // A connection of its own that burns CPU in its backend, then closes: its backend exits,
      // and its time must still count (through the postmaster's reaped-children times). Other
      // test files' backends come and go on the same server meanwhile; none of that is taken away.
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      await client.query('select count(*) from generate_series(1, 3000000)');
      await client.end();
      // Reaping is asynchronous; the sum only ever grows, so wait until the work shows.
      let after = before!;
      for (let i = 0; i < 100 && after - before! < 0.05; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        after = (await postgresCpuSeconds(postmaster!))!;
      }
      expect(after - before!).toBeGreaterThanOrEqual(0.05);
    },
  );
});
