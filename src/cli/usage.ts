/** Thrown for bad command lines: printed with the usage text, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * A folder or file the command line or the environment names that is not there (a mistyped
 * `--tasks`, say): one line naming it, exit code 2, before any database is opened.
 */
export class MissingPathError extends Error {
  override readonly name = 'MissingPathError';
  /** The absolute path that was looked for. */
  readonly path: string;
  constructor(message: string, path: string) {
    super(message);
    this.path = path;
  }
}

export const USAGE = `Usage: jobdeck <command> [options]

Commands:
  init                      Set up this folder for jobdeck: tasks/ with an example task, a
                            crontab and jobdeck's lines in .env.example. Never overwrites a file.
      --dir <folder> (default: the current folder)
  start                     Run everything: embedded PostgreSQL (when DATABASE_URL is unset),
                            migrations, a worker and the HTTP server (GraphQL on JOBDECK_PORT,
                            default 4000). Stops cleanly on Ctrl-C / SIGTERM.
      --tasks <folder>  --crontab <file>  (override JOBDECK_TASKS_DIR, JOBDECK_CRONTAB)
  worker                    Run a worker (migrates first). Run as many as you like.
      --tasks <folder>  --crontab <file>
  serve                     Run the HTTP server alone (GraphQL at /graphql, websockets on the
                            same path, GraphiQL at /graphiql, /healthz). Run as many as you like.
      --tasks <folder>
  token                     Print a bearer token signed with the server's secret (development).
      --user <id>  --org <id>  --role <user|admin>  --ttl <1h|30m|7d>
      --permissions <jobs.view_jobs,...>  --json
  migrate                   Apply migrations and register the task types in tasks/.
      --tasks <folder>  --crontab <file> (checked against the tasks)
  enqueue <type> [payload]  Enqueue a job (payload is JSON, default {}); prints the job id.
      --priority <n|urgent|high|normal|low>  --run-at <ISO time>  --max-attempts <n>
      --key <k>  --key-mode <keep|replace>  --queue <q>  --owner <id>  --org <id>  --json
      --depends-on <id>[,<id>…] (wait until these jobs succeed)
      --on-dependency-failure <cancel|run> (when one fails: cancel this job, default, or run it)
      --template <name> (enqueue from a job template: then the only argument is the payload,
                        merged over the template's defaults; flags override the template's)
  jobs                      List jobs, newest first.
      --active  --status <s>  --type <t>  --owner <id>  --org <id>  --limit <n>  --json
  watch <id>                Show a job's (or a batch's) progress live until it finishes. Exit 0
                            when it (every job) succeeds, 1 otherwise.  --json: one line per change
  batch <id>                Show a batch's progress: finished of total, succeeded, failed, cancelled.
      --cancel (every unfinished job)  --reason <text>  --json
  cancel <id>               Cancel a job: queued/retrying at once, running via its worker.
      --reason <text>  --wait (until it has stopped)  --json
  retry <id>                Run a failed or cancelled job again with a fresh attempt budget.
  signal <id|key> <event> [data]
                            Send a signal to a job (by id, or the key of an unfinished job): its
                            ctx.waitFor(event) returns the JSON data.  --json
  stats                     Counts by status and type, queue depth, p50/p95 run times.
      --since <30m|6h|7d|ISO time> (default 24h)  --type <t>  --json
  pause <queue>             Pause a queue on every worker (until resume): its jobs stay queued,
                            none starts; running ones finish unless --cancel-running.
      --type <t> (a task type instead)  --all (everything)  --reason <text>  --cancel-running  --json
  resume <queue>            End a pause; its held jobs start at once.  --type <t>  --all  --json
  pauses                    List what is paused, with the jobs each pause holds.  --json
  template set <name>       Create or replace a job template (a named preset of an enqueue).
      --type <t> (required)  --payload <json defaults>  --priority <n|name>  --queue <q>
      --max-attempts <n>  --description <text>  --org <id> (only this organisation's)
      --webhook-url <url>  --notify-email <a@x,b@y>  --notify-on <succeeded,failed>  --json
  template list              List job templates.  --org <id> (global ones and this org's)  --json
  template delete <name>     Remove a job template (jobs made from it are untouched).
  help                      Show this text.

Configuration comes from the environment (see .env.example); paths on the command line are
relative to the current folder. With DATABASE_URL unset, commands use the embedded PostgreSQL
of a running \`jobdeck start\` in this folder, or start it.`;
