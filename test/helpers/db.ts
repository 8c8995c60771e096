import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import type { Kysely } from 'kysely';
import { openConnections } from '../../src/db/connections.ts';
import { createDb, createPool } from '../../src/db/pool.ts';
import type { Database, Job } from '../../src/db/types.ts';
import type { JobStatus } from '../../src/jobs/states.ts';

export interface TestDatabase {
  url: string;
  pool: pg.Pool;
  db: Kysely<Database>;
  /** Drops the database (closing the pool first). */
  drop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * A fresh, migrated database cloned from the run's template; committed data stays in it. With
 * `{ migrated: false }`, an empty database instead (for tests of migrate itself).
 */
export async function createTestDatabase(
  options: { migrated?: boolean } = {},
): Promise<TestDatabase> {
  const adminUrl = inject('adminUrl');
  const template = options.migrated === false ? 'template0' : inject('templateDb');
  const name = `jobdeck_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`create database ${name} template ${template}`);
        break;
      } catch (error) {
        // 55006: the template is briefly in use by another file's clone; try again.
        if ((error as { code?: string }).code !== '55006' || attempt > 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
      }
    }
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminUrl, name);
  const pool = createPool(url, { max: 8, applicationName: 'jobdeck-test' });
  const db = createDb(pool);
  return {
    url,
    pool,
    db,
    async drop() {
      await db.destroy();
      await pool.end();
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}

/** Polls `check` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(
  check: () => Promise<T> | T,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<Exclude<T, false | null | undefined>> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as Exclude<T, false | null | undefined>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${options.what ?? 'condition'}${last ? `: ${(last as Error).message}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 25));
  }
}

/** Waits until the job has `status` and returns it as read then. */
export function waitForStatus(
  jobdeck: { getJob(id: string): Promise<Job> },
  id: string,
  status: JobStatus,
  options: { timeoutMs?: number } = {},
): Promise<Job> {
  return waitFor(
    async () => {
      const job = await jobdeck.getJob(id);
      return job.status === status && job;
    },
    { ...options, what: `job ${id} to be ${status}` },
  );
}

/**
 * A pool that logs in as the API does (role jobdeck_api, with the password jobdeck manages), for
 * tests that play a request's SQL (`set local role jobdeck_user` and the claims) themselves.
 */
export function openApiPool(url: string): { pool: pg.Pool; close(): Promise<void> } {
  const connections = openConnections({ server: true }, { connectionString: url });
  return { pool: connections.api, close: () => connections.close() };
}

/**
 * A job's transition messages with each attempt's start spelled out: an attempt that ended before
 * its running mark is stored as one event, its end, carrying `startedAt`
 * (sql/events/tg_jobs__after_update.sql); here it reads as `running (attempt n)` then its end,
 * as a marked attempt does, so a test's expectation does not depend on how long a task took.
 */
export function transitionTimeline(
  events: readonly { kind: string; message: string; attempt: number | null; data: unknown }[],
): string[] {
  return events
    .filter((e) => e.kind === 'transition')
    .flatMap((e) =>
      e.data && typeof e.data === 'object' && 'startedAt' in e.data
        ? [`running (attempt ${e.attempt})`, e.message]
        : [e.message],
    );
}
