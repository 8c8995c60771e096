import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import { context, lambda } from 'postgraphile/grafast';
import { extendSchema, gql } from 'postgraphile/utils';
import type { Database } from '../db/types.ts';
import type { Identity } from '../auth/identity.ts';
import { requireOperator } from '../auth/operators.ts';
import { listCronSchedules, listQueues, listWorkers } from '../jobs/operations.ts';

export interface OperationsPluginOptions {
  /** The owner's connection: queues, workers and schedules span every tenant. */
  ownerDb: Kysely<Database>;
  /** Organisations whose admins operate the deployment (JOBDECK_OPERATOR_ORGS). */
  operatorOrgs: readonly string[];
  /** The crontab file the workers run (JOBDECK_CRONTAB); missing: no schedules. */
  crontabFile: string;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/**
 * Read-only `queues`, `workers` and `cronSchedules` for the dashboard's operator views. They show
 * every tenant's figures (a queue's depth, a worker's running jobs), so, like pauses, only
 * operators may read them (src/auth/operators.ts); they read on the owner's connection after
 * that check, through src/jobs/operations.ts.
 */
export function makeOperationsPlugin(options: OperationsPluginOptions): GraphileConfig.Plugin {
  const $identity = () => context().get('jobdeckIdentity');
  const operatorRead = <T>(read: () => Promise<T>) =>
    lambda($identity(), async (identity: Identity | null) => {
      requireOperator(identity, options.operatorOrgs);
      return read();
    });
  return extendSchema(() => ({
    typeDefs: gql`
      "A queue: its unfinished jobs, limits, pause and the last hour's throughput."
      type QueueSummary {
        "default for jobs of no named queue."
        name: String!
        "Waiting to start (queued or retrying), held ones included."
        waiting: Int!
        running: Int!
        "Waiting jobs a limit or pause holds."
        held: Int!
        paused: Boolean!
        pauseReason: String
        "Concurrency limit; null: none."
        maxRunning: Int
        "Rate limit: at most maxStarts per ratePeriodMs; null: none."
        maxStarts: Int
        ratePeriodMs: Int
        "Jobs finished in each of the last 60 minutes, oldest first."
        finishedPerMinute: [Int!]!
        failedLastHour: Int!
      }

      "A worker process, as its last heartbeat wrote it."
      type WorkerProcess {
        id: String!
        hostname: String!
        pid: Int!
        concurrency: Int!
        taskTypes: [String!]!
        startedAt: Datetime!
        heartbeatAt: Datetime!
        "Set once the process is shutting down."
        stoppingAt: Datetime
        rssBytes: Float
        "The jobs it runs now."
        runningJobIds: [UUID!]!
      }

      "A crontab line the workers run."
      type CronSchedule {
        identifier: String!
        task: String!
        "The five time fields (UTC)."
        pattern: String!
        payload: JSON
        "The next minute it runs; null if none within a year."
        nextRunAt: Datetime
        "When it last ran; null: never."
        lastRunAt: Datetime
      }

      extend type Query {
        "Every queue with unfinished jobs, a limit, a pause or recent jobs; operators only."
        queues: [QueueSummary!]!
        "The worker processes and their heartbeats; operators only."
        workers: [WorkerProcess!]!
        "The crontab's schedules with their next run; operators only."
        cronSchedules: [CronSchedule!]!
      }
    `,
    objects: {
      Query: {
        plans: {
          queues: () => operatorRead(() => listQueues(options.ownerDb)),
          workers: () =>
            operatorRead(async () =>
              (await listWorkers(options.ownerDb)).map((w) => ({
                ...w,
                startedAt: iso(w.startedAt),
                heartbeatAt: iso(w.heartbeatAt),
                stoppingAt: iso(w.stoppingAt),
              })),
            ),
          cronSchedules: () =>
            operatorRead(async () => {
              const text = existsSync(options.crontabFile)
                ? await readFile(options.crontabFile, 'utf8')
                : '';
              return (await listCronSchedules(options.ownerDb, text)).map((s) => ({
                ...s,
                nextRunAt: iso(s.nextRunAt),
                lastRunAt: iso(s.lastRunAt),
              }));
            }),
        },
      },
    },
  }));
}
