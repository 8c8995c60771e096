/**
 * What `jobdeck init` writes into an application's folder. The example task imports only from
 * 'jobdeck', as every task of an application does.
 */

/** The example task's job type (its file is `tasks/hello.ts` or `tasks/hello.mts`). */
export const EXAMPLE_TASK = 'hello';

/** tasks/hello.ts: reports progress step by step and stops as soon as its signal aborts. */
export const EXAMPLE_TASK_SOURCE = `import { defineTask, sleep, z } from 'jobdeck';

/**
 * An example task made by \`jobdeck init\`: the file name is the job type ("hello"). Run a worker
 * (\`npx jobdeck worker\`), then in another shell:
 *
 *   npx jobdeck enqueue hello '{"name":"Ada"}'
 *   npx jobdeck watch <the id it printed>
 */
export default defineTask({
  description: 'Greet someone in three steps (an example made by jobdeck init)',
  // Checked when the job is enqueued, whichever way (TypeScript, CLI, API, SQL); parsed for run().
  payload: z.object({
    name: z.string().min(1).max(100).default('world'),
    stepDelayMs: z.number().int().min(0).max(60_000).default(500),
  }),
  maxAttempts: 3,
  async run({ payload, progress, step, log, signal }) {
    const total = 3;
    await progress({ completed: 0, total }, 'prepare');
    // sleep(ms, signal) rejects as soon as the job is cancelled or times out: the job stops here.
    await sleep(payload.stepDelayMs, signal);

    await progress({ completed: 1, total }, 'greet');
    const greeting = \`Hello, \${payload.name}!\`;
    await log('info', greeting);
    await sleep(payload.stepDelayMs, signal);

    await step('finish');
    // Work that awaits nothing that takes the signal checks it between pieces instead.
    signal.throwIfAborted();
    await progress({ completed: 2, total });
    await sleep(payload.stepDelayMs, signal);

    await progress({ completed: total, total });
    // Stored as the job's result (JSON), shown by \`jobdeck watch\` and the API.
    return { greeting };
  },
});
`;

/** crontab: jobdeck's retention sweep hourly, examples commented out. */
export const CRONTAB_SOURCE = `# jobdeck schedules, in Graphile Worker's crontab format; times are UTC:
#   minute hour day-of-month month day-of-week task ?options {payload}
# Each scheduled minute makes at most one job across all workers, and every run is a tracked job.
# ?fill=2h runs a schedule missed in the last 2 hours (a worker was down) once it is back.
#
# Examples (remove the leading # to turn one on):
# */15 * * * * ${EXAMPLE_TASK} {"name":"every quarter hour"}
# 30 6 * * 1 ${EXAMPLE_TASK} ?fill=1d {"name":"Monday morning"}

# Delete finished jobs past their retention (JOBDECK_RETENTION_SUCCEEDED_DAYS / _FAILED_DAYS).
0 * * * * prune_jobs ?fill=2h
`;

/** The first line of jobdeck's block in `.env.example`. */
export const ENV_HEADER = '# jobdeck: every variable is optional; empty means "use the default".';

/**
 * jobdeck's lines for an application's `.env.example`: the few an application sets first, each
 * with its comment, copied from jobdeck's own .env.example (test/unit/init.test.ts keeps them in
 * step). `name` is the variable; `lines` its comment lines and its `NAME=value` line.
 */
export const ENV_ENTRIES: readonly { name: string; lines: readonly string[] }[] = [
  {
    name: 'DATABASE_URL',
    lines: [
      '# PostgreSQL connection string. Unset: use the embedded PostgreSQL in JOBDECK_DATA_DIR.',
      'DATABASE_URL=',
    ],
  },
  {
    name: 'JOBDECK_DATA_DIR',
    lines: [
      '# Folder for the embedded database, generated exports and other local state (git-ignored).',
      'JOBDECK_DATA_DIR=.jobdeck',
    ],
  },
  {
    name: 'JOBDECK_TASKS_DIR',
    lines: [
      '# Folder of task modules: file name = job type (tasks/import_file.ts runs "import_file" jobs).',
      'JOBDECK_TASKS_DIR=tasks',
    ],
  },
  {
    name: 'JOBDECK_CRONTAB',
    lines: [
      "# Crontab file in Graphile Worker's format (UTC); a missing file means no schedules.",
      'JOBDECK_CRONTAB=crontab',
    ],
  },
  {
    name: 'JOBDECK_CONCURRENCY',
    lines: ['# Jobs one worker process runs at the same time.', 'JOBDECK_CONCURRENCY=10'],
  },
  {
    name: 'JOBDECK_JWT_SECRET',
    lines: [
      '# HS256 secret (32+ characters) that signs and verifies bearer tokens. Unset outside production:',
      '# one is generated and kept in JOBDECK_DATA_DIR/jwt-secret. Required when NODE_ENV=production.',
      'JOBDECK_JWT_SECRET=',
    ],
  },
];

/** The `.gitignore` line that keeps the embedded database and generated secrets out of git. */
export const GITIGNORE_LINE = '.jobdeck/';
