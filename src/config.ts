import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { isLoopbackHost, parseAllowList, splitList } from './util/addresses.ts';

/**
 * The only reader of `process.env`. Every variable here is listed, with a one-line comment, in
 * `.env.example`; keep the two in step.
 */

const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const schema = z.object({
  DATABASE_URL: z
    .string()
    .trim()
    .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
    .optional(),
  DATABASE_LISTEN_URL: z
    .string()
    .trim()
    .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
    .optional(),
  JOBDECK_API_DATABASE_URL: z
    .string()
    .trim()
    .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
    .optional(),
  JOBDECK_REPLICA_URL: z
    .string()
    .trim()
    .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
    .optional(),
  JOBDECK_DATA_DIR: z.string().trim().min(1).default('.jobdeck'),
  JOBDECK_TASKS_DIR: z.string().trim().min(1).default('tasks'),
  JOBDECK_CRONTAB: z.string().trim().min(1).default('crontab'),
  JOBDECK_CONCURRENCY: int(1, 1000).default(10),
  JOBDECK_LOCAL_QUEUE_SIZE: int(-1, 100_000).default(-1),
  JOBDECK_POLL_INTERVAL_MS: int(100, 3_600_000).default(2000),
  JOBDECK_COMPLETE_BATCH_DELAY_MS: int(-1, 10_000).default(0),
  JOBDECK_FLUSH_INTERVAL_MS: int(0, 10_000).default(2),
  JOBDECK_MARK_DELAY_MS: int(0, 60_000).default(10),
  JOBDECK_MAX_PAYLOAD_BYTES: int(2, 100 * 1024 * 1024).default(1024 * 1024),
  JOBDECK_MAX_STEP_RESULT_BYTES: int(4, 100 * 1024 * 1024).default(1024 * 1024),
  JOBDECK_DEFAULT_MAX_ATTEMPTS: int(1, 32_767).default(3),
  JOBDECK_RETENTION_SUCCEEDED_DAYS: int(0, 36_500).default(7),
  JOBDECK_RETENTION_FAILED_DAYS: int(0, 36_500).default(30),
  JOBDECK_HISTORY_AFTER_SECONDS: int(0, 604_800).default(600),
  JOBDECK_EMBEDDED_PG_PORT: int(0, 65_535).default(0),
  JOBDECK_SHUTDOWN_TIMEOUT_MS: int(0, 3_600_000).default(30_000),
  JOBDECK_CANCEL_GRACE_MS: int(0, 3_600_000).default(10_000),
  JOBDECK_HEARTBEAT_INTERVAL_MS: int(100, 60_000).default(1000),
  JOBDECK_RESCUE_AFTER_MS: int(1000, 3_600_000).default(15_000),
  JOBDECK_ORG_CONCURRENCY: int(0, 100_000).optional(),
  JOBDECK_QUEUE_CONCURRENCY: z
    .string()
    .transform((text, ctx) => {
      const parsed = parseQueueConcurrency(text);
      if (typeof parsed === 'string') {
        ctx.addIssue({ code: 'custom', message: parsed });
        return z.NEVER;
      }
      return parsed;
    })
    .optional(),
  JOBDECK_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  JOBDECK_PORT: int(0, 65_535).default(4000),
  JOBDECK_HOST: z.string().trim().min(1).default('127.0.0.1'),
  JOBDECK_JWT_SECRET: z
    .string()
    .min(32, 'must be at least 32 characters (HS256 needs a 256-bit secret)')
    .optional(),
  JOBDECK_GRAPHIQL: z.enum(['true', 'false']).optional(),
  JOBDECK_DEV_SIGNIN: z.enum(['true', 'false']).default('false'),
  JOBDECK_OTEL: z.enum(['true', 'false']).default('false'),
  JOBDECK_MAX_BODY_BYTES: int(1024, 1024 * 1024 * 1024).optional(),
  JOBDECK_GRAPHQL_MAX_DEPTH: int(2, 100).default(12),
  JOBDECK_GRAPHQL_MAX_FIELDS: int(10, 100_000).default(500),
  JOBDECK_GRAPHQL_INTROSPECTION: z.enum(['true', 'false']).default('true'),
  JOBDECK_WIDGET_COMPLETED_TTL_S: int(0, 86_400).default(300),
  JOBDECK_DOWNLOAD_LINK_TTL_S: int(10, 7 * 86_400).default(900),
  JOBDECK_SSE_HEARTBEAT_MS: int(10, 600_000).default(15_000),
  JOBDECK_WEBHOOK_SECRET: z
    .string()
    .min(32, 'must be at least 32 characters (it signs webhook bodies with HMAC-SHA256)')
    .optional(),
  JOBDECK_WEBHOOK_TIMEOUT_MS: int(100, 300_000).default(10_000),
  JOBDECK_WEBHOOK_ALLOW_INTERNAL: z
    .string()
    .transform(splitList)
    .superRefine((entries, ctx) => {
      const parsed = parseAllowList(entries);
      if (parsed.problem) ctx.addIssue({ code: 'custom', message: parsed.problem });
    })
    .default([]),
  JOBDECK_SMTP_URL: z
    .string()
    .trim()
    .refine(
      isSmtpUrl,
      'must be an smtp:// or smtps:// URL, e.g. smtps://user:password@mail.example.com:465',
    )
    .optional(),
  JOBDECK_EMAIL_FROM: z
    .string()
    .trim()
    .pipe(z.email('must be an e-mail address, e.g. jobdeck@example.com'))
    .default('jobdeck@localhost'),
  JOBDECK_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  JOBDECK_METRICS_ORG_LABEL: z.enum(['true', 'false']).default('false'),
  JOBDECK_OPERATOR_ORGS: z
    .string()
    .transform((text) => text.split(/[\s,]+/).filter((org) => org.length > 0))
    .default([]),
  JOBDECK_CRON_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  JOBDECK_SSE_MAX_STREAMS_PER_USER: int(1, 10_000).default(20),
  NODE_ENV: z.string().trim().optional(),
  TEST_DATABASE_URL: z
    .string()
    .trim()
    .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
    .optional(),
});

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Resolved configuration: paths are absolute, numbers are numbers. */
export interface Config {
  /** Connection string of an external PostgreSQL; unset means "use the embedded one". */
  databaseUrl: string | undefined;
  /**
   * A direct connection to the same database, for when DATABASE_URL goes through a transaction
   * pooler such as PgBouncer (docs/connections.md, "Behind PgBouncer"): LISTEN and migrations use
   * it. Unset, everything uses DATABASE_URL.
   */
  databaseListenUrl: string | undefined;
  /**
   * How the API's connections log in: as role jobdeck_api, set up by a DBA. Unset, the API logs
   * in as jobdeck_api with a password jobdeck derives and sets itself (docs/security.md).
   */
  apiDatabaseUrl: string | undefined;
  /**
   * A streaming (hot standby) replica of the database: the API's reads that need not see the
   * caller's own writes at once (GraphQL queries, REST GET routes) run there, logged in as
   * jobdeck_api as on the primary (docs/connections.md, "Read replicas"). Unset, every read
   * runs on the primary.
   */
  replicaUrl: string | undefined;
  /** Folder for the embedded database and other local state. */
  dataDir: string;
  tasksDir: string;
  crontabFile: string;
  concurrency: number;
  /** Graphile Worker local queue size; -1 picks `2 × concurrency`, 0 turns it off. */
  localQueueSize: number;
  pollIntervalMs: number;
  completeBatchDelayMs: number;
  flushIntervalMs: number;
  markDelayMs: number;
  maxPayloadBytes: number;
  /** Largest result of one durable step, in bytes of JSON (JOBDECK_MAX_STEP_RESULT_BYTES). */
  maxStepResultBytes: number;
  defaultMaxAttempts: number;
  retentionSucceededDays: number;
  retentionFailedDays: number;
  /** Finished jobs move from jobs_live to their history partition this long after they finish. */
  historyAfterSeconds: number;
  embeddedPgPort: number;
  /** On stop, how long running jobs may finish before their signal aborts and they are requeued. */
  shutdownTimeoutMs: number;
  /** After a job's signal aborts, how long before it is abandoned (per type: `cancelGrace`). */
  cancelGraceMs: number;
  /** How often a worker heartbeats and polls for cancel requests. */
  heartbeatIntervalMs: number;
  /** A worker silent this long is presumed dead and its jobs are rescued. */
  rescueAfterMs: number;
  /** Jobs of one organisation running at once, all types; 0 = no cap, undefined = leave as stored. */
  orgConcurrency: number | undefined;
  /**
   * Per-queue concurrency limits every worker writes at its start (JOBDECK_QUEUE_CONCURRENCY,
   * `reports=3,emails=10`): queue → jobs running at once across all workers, null to remove the
   * queue's limit. Queues not named keep what is stored (`jobdeck.set_queue_concurrency`).
   */
  queueConcurrency: Record<string, number | null>;
  logLevel: LogLevel;
  /** HTTP port of `jobdeck serve` / `start`; 0 picks a free one. */
  port: number;
  host: string;
  /** HS256 secret for bearer tokens; unset outside production means "generated, kept in dataDir". */
  jwtSecret: string | undefined;
  /** NODE_ENV=production: no GraphiQL by default, no dev sign-in, a JWT secret is required. */
  production: boolean;
  /** Serve GraphiQL (Ruru) at /graphiql; default on only outside production on a loopback host. */
  graphiql: boolean;
  /**
   * `POST /dev/token` (the dashboard's development sign-in: a token for whoever asks). Off unless
   * asked for; refused outside a loopback `host` and in production (see {@link checkDevSignin}).
   */
  devSignin: boolean;
  /**
   * `JOBDECK_OTEL=true`: the CLI registers an OpenTelemetry SDK exporting job traces over OTLP/HTTP
   * (src/telemetry/setup.ts). Off by default.
   */
  otel: boolean;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: number;
  /** Deepest GraphQL selection accepted. */
  graphqlMaxDepth: number;
  /** Most fields one GraphQL operation may select (fragments expanded). */
  graphqlMaxFields: number;
  /**
   * Answer introspection (`__schema`, `__type`): what GraphiQL, codegen and IDE plugins read the
   * schema with. The schema is no secret (the API's are open source), but a production API may
   * turn it off (`JOBDECK_GRAPHQL_INTROSPECTION=false`).
   */
  graphqlIntrospection: boolean;
  /** Seconds a succeeded job stays listed by `GET /api/v2/jobs/active`. */
  widgetCompletedTtlSeconds: number;
  /**
   * Seconds an export's signed `downloadUrl` works after the job was read (docs/rest.md, "Download
   * links"): long enough to click, short enough that a leaked link soon stops working.
   */
  downloadLinkTtlSeconds: number;
  /** Milliseconds between `: ping` comments on server-sent event streams. */
  sseHeartbeatMs: number;
  /** Signs webhook bodies; unset outside production means "generated, kept in dataDir". */
  webhookSecret: string | undefined;
  /** How long a webhook receiver gets to answer before the delivery counts as failed. */
  webhookTimeoutMs: number;
  /**
   * Internal webhook targets allowed despite the guard: CIDR ranges, single addresses and host
   * names (JOBDECK_WEBHOOK_ALLOW_INTERNAL). Empty: webhooks reach public addresses only.
   */
  webhookAllowInternal: string[];
  /**
   * The SMTP server e-mail notifications go through (`smtp://` or `smtps://`, credentials in the
   * URL). Unset: enqueuing with an e-mail notification is refused, naming the setting.
   */
  smtpUrl: string | undefined;
  /** The sender of e-mail notifications (JOBDECK_EMAIL_FROM). */
  emailFrom: string;
  /**
   * When set, `/metrics` needs this bearer token; unset, it answers local connections only
   * (loopback, not forwarded by a proxy).
   */
  metricsToken: string | undefined;
  /** `/metrics` labels job counts with the organisation (`org`): one series per tenant. */
  metricsOrgLabel: boolean;
  /**
   * The bearer secret a scheduler sends to Novus's `GET /api/v1/cron/jobs` (seed 002); unset, the
   * route answers 404 naming this setting.
   */
  cronSecret: string | undefined;
  /**
   * Organisations whose admins operate the whole deployment (JOBDECK_OPERATOR_ORGS): only their
   * admin tokens may pause and resume through GraphQL and REST, because a pause holds every
   * tenant's jobs. Empty (the default): pausing is for trusted callers only (TypeScript, CLI, SQL).
   */
  operatorOrgs: readonly string[];
  /** Event streams one user may hold open at once on one server. */
  sseMaxStreamsPerUser: number;
  testDatabaseUrl: string | undefined;
}

/**
 * Reads and validates configuration. Empty strings count as unset, so a copied `.env.example`
 * with blank values behaves like no file at all.
 *
 * @throws ConfigError naming every variable that is wrong and why.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  cwd = process.cwd(),
): Config {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') cleaned[key] = value;
  }
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) =>
        `${String(issue.path[0])}=${JSON.stringify(shown(cleaned[String(issue.path[0])] ?? ''))}: ${issue.message}`,
    );
    throw new ConfigError(problems);
  }
  const v = parsed.data;
  if (v.JOBDECK_RESCUE_AFTER_MS < 3 * v.JOBDECK_HEARTBEAT_INTERVAL_MS) {
    throw new ConfigError([
      `JOBDECK_RESCUE_AFTER_MS=${v.JOBDECK_RESCUE_AFTER_MS}: must be at least 3 × JOBDECK_HEARTBEAT_INTERVAL_MS (${3 * v.JOBDECK_HEARTBEAT_INTERVAL_MS}), or live workers would be rescued`,
    ]);
  }
  if (v.DATABASE_LISTEN_URL !== undefined && v.DATABASE_URL === undefined) {
    throw new ConfigError([
      `DATABASE_LISTEN_URL=${JSON.stringify(shown(v.DATABASE_LISTEN_URL))}: is only for when DATABASE_URL leads to a connection pooler; set DATABASE_URL too, or unset DATABASE_LISTEN_URL`,
    ]);
  }
  if (v.JOBDECK_REPLICA_URL !== undefined && v.DATABASE_URL === undefined) {
    throw new ConfigError([
      `JOBDECK_REPLICA_URL=${JSON.stringify(shown(v.JOBDECK_REPLICA_URL))}: is a standby of the database DATABASE_URL names; set DATABASE_URL too (the embedded PostgreSQL has no replica), or unset JOBDECK_REPLICA_URL`,
    ]);
  }
  const production = v.NODE_ENV === 'production';
  const config: Config = {
    databaseUrl: v.DATABASE_URL,
    databaseListenUrl: v.DATABASE_LISTEN_URL,
    apiDatabaseUrl: v.JOBDECK_API_DATABASE_URL,
    replicaUrl: v.JOBDECK_REPLICA_URL,
    dataDir: path.resolve(cwd, v.JOBDECK_DATA_DIR),
    tasksDir: path.resolve(cwd, v.JOBDECK_TASKS_DIR),
    crontabFile: path.resolve(cwd, v.JOBDECK_CRONTAB),
    concurrency: v.JOBDECK_CONCURRENCY,
    localQueueSize:
      v.JOBDECK_LOCAL_QUEUE_SIZE === -1 ? 2 * v.JOBDECK_CONCURRENCY : v.JOBDECK_LOCAL_QUEUE_SIZE,
    pollIntervalMs: v.JOBDECK_POLL_INTERVAL_MS,
    completeBatchDelayMs: v.JOBDECK_COMPLETE_BATCH_DELAY_MS,
    flushIntervalMs: v.JOBDECK_FLUSH_INTERVAL_MS,
    markDelayMs: v.JOBDECK_MARK_DELAY_MS,
    maxPayloadBytes: v.JOBDECK_MAX_PAYLOAD_BYTES,
    maxStepResultBytes: v.JOBDECK_MAX_STEP_RESULT_BYTES,
    defaultMaxAttempts: v.JOBDECK_DEFAULT_MAX_ATTEMPTS,
    retentionSucceededDays: v.JOBDECK_RETENTION_SUCCEEDED_DAYS,
    retentionFailedDays: v.JOBDECK_RETENTION_FAILED_DAYS,
    historyAfterSeconds: v.JOBDECK_HISTORY_AFTER_SECONDS,
    embeddedPgPort: v.JOBDECK_EMBEDDED_PG_PORT,
    shutdownTimeoutMs: v.JOBDECK_SHUTDOWN_TIMEOUT_MS,
    cancelGraceMs: v.JOBDECK_CANCEL_GRACE_MS,
    heartbeatIntervalMs: v.JOBDECK_HEARTBEAT_INTERVAL_MS,
    rescueAfterMs: v.JOBDECK_RESCUE_AFTER_MS,
    orgConcurrency: v.JOBDECK_ORG_CONCURRENCY,
    queueConcurrency: v.JOBDECK_QUEUE_CONCURRENCY ?? {},
    logLevel: v.JOBDECK_LOG_LEVEL,
    port: v.JOBDECK_PORT,
    host: v.JOBDECK_HOST,
    jwtSecret: v.JOBDECK_JWT_SECRET,
    production,
    graphiql:
      v.JOBDECK_GRAPHIQL === undefined
        ? defaultGraphiql(production, v.JOBDECK_HOST)
        : v.JOBDECK_GRAPHIQL === 'true',
    devSignin: v.JOBDECK_DEV_SIGNIN === 'true',
    otel: v.JOBDECK_OTEL === 'true',
    // Room for the largest payload plus the rest of the request.
    maxBodyBytes: v.JOBDECK_MAX_BODY_BYTES ?? v.JOBDECK_MAX_PAYLOAD_BYTES + 64 * 1024,
    graphqlMaxDepth: v.JOBDECK_GRAPHQL_MAX_DEPTH,
    graphqlMaxFields: v.JOBDECK_GRAPHQL_MAX_FIELDS,
    graphqlIntrospection: v.JOBDECK_GRAPHQL_INTROSPECTION === 'true',
    widgetCompletedTtlSeconds: v.JOBDECK_WIDGET_COMPLETED_TTL_S,
    downloadLinkTtlSeconds: v.JOBDECK_DOWNLOAD_LINK_TTL_S,
    sseHeartbeatMs: v.JOBDECK_SSE_HEARTBEAT_MS,
    webhookSecret: v.JOBDECK_WEBHOOK_SECRET,
    webhookTimeoutMs: v.JOBDECK_WEBHOOK_TIMEOUT_MS,
    webhookAllowInternal: v.JOBDECK_WEBHOOK_ALLOW_INTERNAL,
    smtpUrl: v.JOBDECK_SMTP_URL,
    emailFrom: v.JOBDECK_EMAIL_FROM,
    metricsToken: v.JOBDECK_METRICS_TOKEN,
    metricsOrgLabel: v.JOBDECK_METRICS_ORG_LABEL === 'true',
    cronSecret: v.JOBDECK_CRON_SECRET,
    operatorOrgs: v.JOBDECK_OPERATOR_ORGS,
    sseMaxStreamsPerUser: v.JOBDECK_SSE_MAX_STREAMS_PER_USER,
    testDatabaseUrl: v.TEST_DATABASE_URL,
  };
  checkDevSignin(config);
  return config;
}

/**
 * JOBDECK_WEBHOOK_ALLOW_INTERNAL alone, for code that needs no other setting (the enqueue check
 * of a client created without it): a mistake in an unrelated variable does not stop an enqueue.
 *
 * @throws ConfigError naming the bad entry.
 */
export function loadWebhookAllowInternal(
  env: Record<string, string | undefined> = process.env,
): string[] {
  const value = env['JOBDECK_WEBHOOK_ALLOW_INTERNAL'];
  if (value === undefined || value.trim() === '') return [];
  const parsed = schema.shape.JOBDECK_WEBHOOK_ALLOW_INTERNAL.safeParse(value);
  if (!parsed.success)
    throw new ConfigError(
      parsed.error.issues.map(
        (issue) => `JOBDECK_WEBHOOK_ALLOW_INTERNAL=${JSON.stringify(value)}: ${issue.message}`,
      ),
    );
  return parsed.data;
}

/**
 * JOBDECK_QUEUE_CONCURRENCY's value, `queue=limit` entries separated by commas or spaces (limit a
 * whole number from 1 to 100000, or `none` to remove the queue's limit): the limits, or what is
 * wrong with the first bad entry.
 */
export function parseQueueConcurrency(text: string): Record<string, number | null> | string {
  const limits = Object.create(null) as Record<string, number | null>;
  for (const entry of splitList(text)) {
    const match = /^([^=]{1,128})=(.*)$/.exec(entry);
    if (!match)
      return `entry ${JSON.stringify(entry)} must be queue=limit (e.g. reports=3, or reports=none to remove a limit)`;
    const [, queue, value] = match as unknown as [string, string, string];
    if (Object.hasOwn(limits, queue)) return `queue "${queue}" is listed twice`;
    if (value === 'none') limits[queue] = null;
    else if (/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 100_000)
      limits[queue] = Number(value);
    else
      return `the limit of queue "${queue}" must be a whole number from 1 to 100000, or none; got ${JSON.stringify(value)}`;
  }
  return limits;
}

/** An `smtp://` or `smtps://` URL with a host: what nodemailer's transport takes. */
function isSmtpUrl(value: string): boolean {
  const url = URL.parse(value);
  return (
    url !== null && (url.protocol === 'smtp:' || url.protocol === 'smtps:') && url.hostname !== ''
  );
}

/** A setting's value for an error message, without the password of a URL that holds one. */
function shown(value: string): string {
  const url = URL.parse(value);
  if (url === null || url.password === '') return value;
  url.password = '***';
  return url.href;
}

/**
 * JOBDECK_SMTP_URL alone, for the enqueue check of a client created without it (as
 * {@link loadWebhookAllowInternal}): undefined when unset.
 *
 * @throws ConfigError when it is set but not an smtp(s) URL.
 */
export function loadSmtpUrl(
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  const value = env['JOBDECK_SMTP_URL'];
  if (value === undefined || value.trim() === '') return undefined;
  const parsed = schema.shape.JOBDECK_SMTP_URL.safeParse(value);
  if (!parsed.success)
    throw new ConfigError(
      parsed.error.issues.map(
        (issue) => `JOBDECK_SMTP_URL=${JSON.stringify(shown(value))}: ${issue.message}`,
      ),
    );
  return parsed.data;
}

/** GraphiQL unless asked otherwise: in development, and only where no one else can reach it. */
function defaultGraphiql(production: boolean, host: string): boolean {
  return !production && isLoopbackHost(host);
}

/**
 * The development sign-in mints an admin token for any organisation to whoever asks: it is
 * refused, naming the settings, unless the server listens on a loopback address outside
 * production. Checked by {@link loadConfig} and again when a server starts with a config built
 * in code.
 *
 * @throws ConfigError when `devSignin` is on with a non-loopback `host` or in production.
 */
export function checkDevSignin(config: Pick<Config, 'devSignin' | 'host' | 'production'>): void {
  if (!config.devSignin) return;
  if (config.production)
    throw new ConfigError([
      'JOBDECK_DEV_SIGNIN=true: the development sign-in is not allowed with NODE_ENV=production; set JOBDECK_DEV_SIGNIN=false',
    ]);
  if (!isLoopbackHost(config.host))
    throw new ConfigError([
      `JOBDECK_DEV_SIGNIN=true: the development sign-in (POST /dev/token) would mint tokens for anyone who can reach JOBDECK_HOST=${config.host}; it runs only on a loopback address (127.0.0.1, ::1, localhost). Set JOBDECK_DEV_SIGNIN=false, or listen on 127.0.0.1`,
    ]);
}

/**
 * jobdeck's defaults (what {@link loadConfig} gives when no variable is set) with `overrides` on
 * top, reading no environment variable: for applications that configure jobdeck in code. Values
 * derived from others follow the overrides unless given too: `graphiql` is on only outside
 * `production` on a loopback `host`, `maxBodyBytes` is `maxPayloadBytes` + 64 KiB,
 * `localQueueSize` is 2 × `concurrency`.
 * Relative folders resolve against `cwd`. Pass `loadConfig()` itself to use the environment.
 */
export function resolveConfig(overrides: Partial<Config> = {}, cwd = process.cwd()): Config {
  const defaults = loadConfig({}, cwd);
  const production = overrides.production ?? defaults.production;
  const resolved: Config = {
    ...defaults,
    graphiql: defaultGraphiql(production, overrides.host ?? defaults.host),
    maxBodyBytes: (overrides.maxPayloadBytes ?? defaults.maxPayloadBytes) + 64 * 1024,
    localQueueSize: 2 * (overrides.concurrency ?? defaults.concurrency),
  };
  for (const [key, value] of Object.entries(overrides))
    if (value !== undefined) (resolved as unknown as Record<string, unknown>)[key] = value;
  for (const key of ['dataDir', 'tasksDir', 'crontabFile'] as const)
    resolved[key] = path.resolve(cwd, resolved[key]);
  return resolved;
}
