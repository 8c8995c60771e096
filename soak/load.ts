import type pg from 'pg';
import { enqueueJobsOn, type JobSpec } from '../src/jobs/enqueue.ts';

/** The soak's task types (soak/tasks/<type>.ts). */
export const SOAK_TYPES = ['instant', 'progress', 'flaky', 'side_effect'] as const;
export type SoakType = (typeof SOAK_TYPES)[number];

/** 4 in 10 instant, 3 progress, 1 flaky, 2 side_effect; fixed by `seq`, so runs compare. */
export function typeFor(seq: number): SoakType {
  const slot = seq % 10;
  return slot < 4 ? 'instant' : slot < 7 ? 'progress' : slot < 8 ? 'flaky' : 'side_effect';
}

/** Every job carries its soak number, the key the final check matches jobs by. */
export function payloadFor(seq: number): Record<string, unknown> {
  return { seq };
}

/**
 * What was enqueued. A job counts as committed only once its enqueue was acknowledged (or, after
 * an error, once the database shows the whole batch): those are the jobs that must not be lost.
 */
export class Ledger {
  #next = 1;
  readonly committed: number[] = [];
  /** API calls that failed: nothing should exist for them, unless the answer was lost in transit. */
  readonly unacknowledged: number[] = [];
  bulkBatches = 0;
  bulkJobs = 0;
  /** Bulk batches whose enqueue failed and were resolved by looking in the database. */
  bulkErrors = 0;
  /** Failed bulk batches that turned out to be committed after all (answer lost in transit). */
  bulkCommittedDespiteError = 0;
  /** Batches found partly committed after an error: enqueue is all-or-nothing, so this is a bug. */
  partialBatches: { from: number; to: number; found: number }[] = [];
  rest = 0;
  graphql = 0;
  apiErrors = 0;
  lastApiError = '';
  /** Per server URL: API enqueues acknowledged and failed. */
  readonly byServer = new Map<string, { enqueued: number; errors: number }>();

  /** Counts one API enqueue through `server`. */
  countApi(server: string, ok: boolean): void {
    const figures = this.byServer.get(server) ?? { enqueued: 0, errors: 0 };
    if (ok) figures.enqueued += 1;
    else figures.errors += 1;
    this.byServer.set(server, figures);
  }

  /** The last soak number handed out. */
  get lastSeq(): number {
    return this.#next - 1;
  }

  /** Hands out the next `n` soak numbers. */
  take(n: number): number[] {
    const seqs = Array.from({ length: n }, (_, i) => this.#next + i);
    this.#next += n;
    return seqs;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface BulkOptions {
  jobs: number;
  batchSize: number;
  /** Upper bound on the enqueue rate, so the run lasts long enough for the faults. */
  jobsPerSec: number;
  /** Enqueue waits while this many soak jobs are unfinished. */
  maxBacklog: number;
  /** Latest count of unfinished soak jobs (kept fresh by the caller). */
  backlog: () => number;
  stopped: () => boolean;
}

/** Counts the soak jobs with numbers from..to (used after an enqueue error). */
async function countRange(pool: pg.Pool, from: number, to: number): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `select count(*)::int as n from jobdeck.jobs
      where type = any($1) and (payload ->> 'seq')::int between $2 and $3`,
    [SOAK_TYPES, from, to],
  );
  return rows[0]!.n;
}

/**
 * Enqueues `jobs` jobs with the bulk TypeScript API (`enqueueJobsOn`, one statement per batch),
 * paced by `jobsPerSec` and the backlog. A batch that fails (the database restarting) is looked
 * up: all there = committed, none there = enqueued again, anything else is recorded as a broken
 * all-or-nothing guarantee.
 */
export async function runBulkEnqueue(
  pool: pg.Pool,
  ledger: Ledger,
  options: BulkOptions,
): Promise<void> {
  const started = Date.now();
  while (ledger.bulkJobs < options.jobs && !options.stopped()) {
    const due = started + (ledger.bulkJobs / options.jobsPerSec) * 1000;
    if (Date.now() < due || options.backlog() >= options.maxBacklog) {
      await sleep(Math.max(10, Math.min(100, due - Date.now())));
      continue;
    }
    const seqs = ledger.take(Math.min(options.batchSize, options.jobs - ledger.bulkJobs));
    const specs: JobSpec[] = seqs.map((seq) => ({ type: typeFor(seq), payload: payloadFor(seq) }));
    let committed = false;
    for (;;) {
      try {
        await enqueueJobsOn(pool, specs);
        committed = true;
        break;
      } catch {
        ledger.bulkErrors += 1;
      }
      const found = await settle(() => countRange(pool, seqs[0]!, seqs.at(-1)!), options.stopped);
      if (found === null) break; // stopped before the database answered: unknown
      if (found === seqs.length) {
        ledger.bulkCommittedDespiteError += 1;
        committed = true;
        break;
      }
      if (found !== 0) {
        ledger.partialBatches.push({ from: seqs[0]!, to: seqs.at(-1)!, found });
        break;
      }
    }
    if (committed) ledger.committed.push(...seqs);
    else ledger.unacknowledged.push(...seqs);
    ledger.bulkBatches += 1;
    ledger.bulkJobs += seqs.length;
  }
}

/** Retries `read` every 500 ms until it answers (the database may be restarting). */
async function settle<T>(read: () => Promise<T>, stopped: () => boolean): Promise<T | null> {
  while (!stopped()) {
    try {
      return await read();
    } catch {
      await sleep(500);
    }
  }
  return null;
}

export interface ApiOptions {
  servers: string[];
  token: string;
  intervalMs: number;
  stopped: () => boolean;
}

/**
 * A trickle of single enqueues through the servers, alternating REST `POST /v1/jobs` and GraphQL
 * `enqueueJob` and the servers. The jobs belong to the token's user, so the open streams see
 * their changes. A call that fails is not retried (a new job goes next).
 */
export async function runApiEnqueue(ledger: Ledger, options: ApiOptions): Promise<void> {
  for (let i = 0; !options.stopped(); i++) {
    const server = options.servers[i % options.servers.length]!;
    const viaGraphql = Math.floor(i / options.servers.length) % 2 === 1;
    const [seq] = ledger.take(1) as [number];
    const headers = {
      authorization: `Bearer ${options.token}`,
      'content-type': 'application/json',
    };
    try {
      if (viaGraphql) {
        const response = await fetch(`${server}/graphql`, {
          method: 'POST',
          headers,
          signal: AbortSignal.timeout(15_000),
          body: JSON.stringify({
            query: `mutation($type: String!, $payload: JSON!) {
              enqueueJob(input: { type: $type, payload: $payload }) { job { id } } }`,
            variables: { type: typeFor(seq), payload: payloadFor(seq) },
          }),
        });
        const body = (await response.json()) as {
          data?: { enqueueJob?: { job?: { id?: string } } };
          errors?: { message: string }[];
        };
        if (!body.data?.enqueueJob?.job?.id)
          throw new Error(`GraphQL ${response.status}: ${body.errors?.[0]?.message ?? 'no job'}`);
        ledger.graphql += 1;
      } else {
        const response = await fetch(`${server}/v1/jobs`, {
          method: 'POST',
          headers,
          signal: AbortSignal.timeout(15_000),
          body: JSON.stringify({ jobType: typeFor(seq), payload: payloadFor(seq) }),
        });
        if (response.status !== 201)
          throw new Error(`REST ${response.status}: ${await response.text()}`);
        ledger.rest += 1;
      }
      ledger.committed.push(seq);
      ledger.countApi(server, true);
    } catch (error) {
      ledger.countApi(server, false);
      ledger.apiErrors += 1;
      ledger.lastApiError = (error as Error).message.slice(0, 300);
      ledger.unacknowledged.push(seq);
    }
    await sleep(options.intervalMs);
  }
}
