import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  postgresCpuSeconds,
  postgresIsLocal,
  postmasterOf,
  processCpuSeconds,
} from '../../bench/cpu.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
    "finds the server's postmaster and keeps a backend's CPU time once that backend has exited",
    async (ctx) => {
      const { pid } = (await database.pool.query<{ pid: number }>('select pg_backend_pid() as pid'))
        .rows[0]!;
      const postmaster = await postmasterOf(pid);
      // A TEST_DATABASE_URL server elsewhere (or in a container) has no processes to read here.
      if (!postgresIsLocal(database.url) || postmaster === null) return ctx.skip();
      expect(await postmasterOf(process.pid)).toBeNull(); // not a PostgreSQL process

      const before = (await postgresCpuSeconds(postmaster))!;
      expect(before).toBeGreaterThan(0);
      // A connection of its own, so a backend forked after `before`: all its CPU time falls in
      // the window. It burns some, then closes.
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      const backend = (await client.query<{ pid: number }>('select pg_backend_pid() as pid'))
        .rows[0]!.pid;
      await client.query('select count(*) from generate_series(1, 3000000)');
      const burnt = (await processCpuSeconds(backend))!;
      expect(burnt).toBeGreaterThan(0);
      await client.end();
      // Once the postmaster has reaped it, the backend is gone from /proc and its time is in the
      // postmaster's children times.
      for (let i = 0; i < 400 && (await processCpuSeconds(backend)) !== null; i++) await sleep(25);
      expect(await processCpuSeconds(backend)).toBeNull();
      // Other test files' work on this server only adds to the sum.
      const after = (await postgresCpuSeconds(postmaster))!;
      expect(after - before).toBeGreaterThanOrEqual(burnt - 0.005);
    },
  );
});
