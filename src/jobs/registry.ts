import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import type { Config } from '../config.ts';
import { createDb } from '../db/pool.ts';
import type { Database } from '../db/types.ts';
import type { AnyTaskDefinition } from './task.ts';
import { isTaskCategory, TASK_CATEGORIES } from './categories.ts';
import { isWebhookUrl } from './enqueue.ts';
import { checkEmailNotification } from './email-notification.ts';
import { BUILTIN_TASKS_DIR, FROM_SOURCES } from '../paths.ts';
import { normalizeBackoff, parseDuration, type BackoffJson } from './policy.ts';

/** Task definitions by job type. */
export type TaskRegistry = Map<string, AnyTaskDefinition>;

/** The module file each loaded definition came from: a type with `limits` runs it in a child. */
const taskFiles = new WeakMap<AnyTaskDefinition, string>();

/** The file {@link loadTasks} loaded `def` from; undefined for a definition made in code. */
export function taskFileOf(def: AnyTaskDefinition): string | undefined {
  return taskFiles.get(def);
}

// .mts as well: it is ESM whatever the application's package.json says (`jobdeck init` writes one
// where a .ts file would run as CommonJS).
const TASK_FILE = /^([A-Za-z0-9_.:-]{1,128})\.(ts|mts|js|mjs)$/;

/**
 * jobdeck's own tasks, which every worker runs whatever the application's folder holds: webhook
 * deliveries (enqueued by the database when a job with a webhook finishes) and the retention
 * sweep (`prune_jobs`, for the crontab). An application's module of the same name replaces one.
 */
export const SYSTEM_TASKS = ['deliver_webhook', 'prune_jobs'] as const;

/**
 * Loads every task module in `dir` (the application's tasks folder): file name = job type,
 * default export = `defineTask({...})` (or a bare function). Files starting with `_`, type
 * declarations and test files are skipped. jobdeck's SYSTEM_TASKS are added unless `dir` has
 * its own.
 */
export async function loadTasks(dir: string): Promise<TaskRegistry> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (error) {
    throw new Error(`cannot read the tasks folder ${dir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const registry: TaskRegistry = new Map();
  for (const name of names) {
    if (name.startsWith('_') || /\.d\.m?ts$/.test(name) || /\.(test|spec)\./.test(name)) continue;
    const match = TASK_FILE.exec(name);
    if (!match) continue;
    const type = match[1]!;
    if (registry.has(type)) throw new Error(`two task modules define "${type}" in ${dir}`);
    const mod = (await import(pathToFileURL(path.join(dir, name)).href)) as { default?: unknown };
    registry.set(type, toDefinition(mod.default, path.join(dir, name)));
  }
  for (const type of SYSTEM_TASKS) {
    if (registry.has(type)) continue;
    const file = path.join(BUILTIN_TASKS_DIR, `${type}${FROM_SOURCES ? '.ts' : '.js'}`);
    const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    registry.set(type, toDefinition(mod.default, file));
  }
  return registry;
}

/**
 * A zod 4 schema, from jobdeck's copy of zod or the application's own (an `instanceof` check
 * would refuse a second copy that npm did not deduplicate).
 */
function isZodSchema(value: unknown): value is z.ZodType {
  return (
    typeof value === 'object' &&
    value !== null &&
    '_zod' in value &&
    typeof (value as { safeParse?: unknown }).safeParse === 'function'
  );
}

function toDefinition(value: unknown, file: string): AnyTaskDefinition {
  const def = checkDefinition(value, file);
  taskFiles.set(def, file);
  return def;
}

/** A task module's default export as a definition; throws naming the module when it is not one. */
function checkDefinition(value: unknown, file: string): AnyTaskDefinition {
  if (typeof value === 'function') return { run: value as AnyTaskDefinition['run'] };
  if (
    value &&
    typeof value === 'object' &&
    typeof (value as AnyTaskDefinition).run === 'function'
  ) {
    const def = value as AnyTaskDefinition;
    if (def.payload !== undefined && !isZodSchema(def.payload)) {
      throw new Error(`${file}: "payload" must be a zod schema`);
    }
    try {
      taskSettings(def, { maxAttempts: 1, maxPayloadBytes: 1, cancelGraceMs: 0 });
      categoryOf(def, path.basename(file).replace(/\.[^.]+$/, ''));
    } catch (error) {
      throw new Error(`${file}: ${(error as Error).message}`, { cause: error });
    }
    return def;
  }
  throw new Error(`${file} must \`export default defineTask({ run(ctx) { … } })\``);
}

/**
 * The JSON Schema stored for a task's payload, checked by `jobdeck.enqueue()` in SQL. Uses the
 * schema's input side (what callers send, before transforms).
 */
export function payloadJsonSchema(
  def: AnyTaskDefinition,
  type: string,
): Record<string, unknown> | null {
  if (!def.payload) return null;
  const schema = z.toJSONSchema(def.payload, {
    io: 'input',
    unrepresentable: 'any',
    cycles: 'throw',
    reused: 'inline',
  });
  if (JSON.stringify(schema).includes('"$ref"')) {
    throw new Error(
      `task "${type}": its payload schema uses references, which enqueue validation does not support`,
    );
  }
  return schema as Record<string, unknown>;
}

export interface SyncDefaults {
  maxAttempts: number;
  maxPayloadBytes: number;
  /** Default grace after an abort (JOBDECK_CANCEL_GRACE_MS). */
  cancelGraceMs?: number;
}

/**
 * The defaults a task's policy falls back on, from the configuration: the one set that both
 * registering the task types and running them use.
 */
export function taskDefaults(
  config: Pick<Config, 'defaultMaxAttempts' | 'maxPayloadBytes' | 'cancelGraceMs'>,
): SyncDefaults & { cancelGraceMs: number } {
  return {
    maxAttempts: config.defaultMaxAttempts,
    maxPayloadBytes: config.maxPayloadBytes,
    cancelGraceMs: config.cancelGraceMs,
  };
}

/** A task's policy, checked and with defaults filled in. */
export interface TaskSettings {
  maxAttempts: number;
  maxPayloadBytes: number;
  backoff: BackoffJson | null;
  timeoutMs: number | null;
  cancelGraceMs: number;
  orgConcurrency: number | null;
  maxConcurrent: number | null;
  /** `concurrency`: at most `limit` running per key (`keySpec` as the database stores it). */
  keyConcurrency: { limit: number; keySpec: string } | null;
  /** `rateLimit`: at most `maxStarts` starts per `periodMs`, per key when `keySpec` is set. */
  rateLimit: { maxStarts: number; periodMs: number; keySpec: string | null } | null;
  /** Fair turns between tenants: `'org'` (the default) or `'off'`. */
  fairness: 'org' | 'off';
  isRetryable: ((error: unknown) => boolean) | null;
  /** Resource limits; non-null means every attempt runs in its own child process. */
  limits: ResourceLimits | null;
}

/** A task type's `limits`, checked, in the units the worker measures. */
export interface ResourceLimits {
  /** Most RSS, in bytes (null: no memory limit). */
  memoryBytes: number | null;
  /** Most CPU time, in ms (null: no CPU limit). */
  cpuMs: number | null;
}

/** Below this a Node process cannot start and load a task (its baseline RSS is about 40 MB). */
export const MIN_MEMORY_LIMIT_MB = 64;

/** Checks a definition's `limits`; throws naming the bad value. */
function limitsOf(def: AnyTaskDefinition): ResourceLimits | null {
  const limits: unknown = def.limits;
  if (limits === undefined) return null;
  if (!limits || typeof limits !== 'object' || Array.isArray(limits))
    throw new TypeError(
      `limits must be an object { memoryMb?, cpuSeconds? }, got ${JSON.stringify(limits)}`,
    );
  const unknownKeys = Object.keys(limits).filter((k) => k !== 'memoryMb' && k !== 'cpuSeconds');
  if (unknownKeys.length > 0)
    throw new TypeError(
      `limits takes memoryMb and cpuSeconds, got ${unknownKeys.map((k) => JSON.stringify(k)).join(', ')}`,
    );
  const { memoryMb, cpuSeconds } = limits as { memoryMb?: unknown; cpuSeconds?: unknown };
  if (memoryMb === undefined && cpuSeconds === undefined)
    throw new TypeError('limits must set memoryMb, cpuSeconds or both');
  const memory =
    memoryMb === undefined
      ? null
      : wholeNumber(memoryMb, 'limits.memoryMb', MIN_MEMORY_LIMIT_MB, 1024 * 1024);
  if (
    cpuSeconds !== undefined &&
    (typeof cpuSeconds !== 'number' ||
      !Number.isFinite(cpuSeconds) ||
      cpuSeconds < 0.1 ||
      cpuSeconds > 31 * 24 * 3600)
  )
    throw new RangeError(
      `limits.cpuSeconds must be a number of seconds from 0.1 to ${31 * 24 * 3600}, got ${String(cpuSeconds)}`,
    );
  return {
    memoryBytes: memory === null ? null : memory * 1024 * 1024,
    cpuMs: cpuSeconds === undefined ? null : Math.round(cpuSeconds * 1000),
  };
}

/** The longest delay a Node timer can wait (2^31 - 1 ms). */
const MAX_TIMER_MS = 2_147_483_647;

function wholeNumber(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw new RangeError(
      `${what} must be a whole number from ${min} to ${max}, got ${String(value)}`,
    );
  return value;
}

/** A limit's `key` as the database stores it (`org`, `owner`, `payload:<path>`); throws naming it. */
export function keySpecOf(key: unknown, what: string): string {
  if (key === 'org' || key === 'owner') return key;
  if (key && typeof key === 'object' && !Array.isArray(key)) {
    const { payload } = key as { payload?: unknown };
    if (
      Object.keys(key).length === 1 &&
      typeof payload === 'string' &&
      payload.length <= 200 &&
      /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(payload)
    )
      return `payload:${payload}`;
  }
  throw new TypeError(
    `${what} must be 'org', 'owner' or { payload: 'field' } (a dotted path of letters, digits, _ and -), got ${JSON.stringify(key) ?? String(key)}`,
  );
}

/** Checks `concurrency`; throws naming the bad field. */
function keyConcurrencyOf(def: AnyTaskDefinition): TaskSettings['keyConcurrency'] {
  const c: unknown = def.concurrency;
  if (c === undefined) return null;
  if (!c || typeof c !== 'object' || Array.isArray(c))
    throw new TypeError(`concurrency must be an object { limit, key }, got ${JSON.stringify(c)}`);
  const { limit, key } = c as { limit?: unknown; key?: unknown };
  return {
    limit: wholeNumber(limit, 'concurrency.limit', 1, 100_000),
    keySpec: keySpecOf(key, 'concurrency.key'),
  };
}

/** The longest rate limit period (the database's bound too). */
export const MAX_RATE_PERIOD_MS = 31 * 86_400_000;

/** Checks a rate limit's `limit` and `period`; throws naming the bad one (`what` prefixes them). */
export function rateOf(
  limit: unknown,
  period: unknown,
  what: string,
): { maxStarts: number; periodMs: number } {
  const maxStarts = wholeNumber(limit, `${what}limit`, 1, 1_000_000);
  if (typeof period !== 'number' && typeof period !== 'string')
    throw new TypeError(
      `${what}period must be a duration (ms, or a string like "1s", "1m"), got ${JSON.stringify(period) ?? String(period)}`,
    );
  const periodMs = parseDuration(period, `${what}period`);
  if (periodMs < 1 || periodMs > MAX_RATE_PERIOD_MS)
    throw new RangeError(`${what}period must be from 1 ms to 31 days, got ${String(period)}`);
  return { maxStarts, periodMs };
}

/** Checks `rateLimit`; throws naming the bad field. */
function rateLimitOf(def: AnyTaskDefinition): TaskSettings['rateLimit'] {
  const r: unknown = def.rateLimit;
  if (r === undefined) return null;
  if (!r || typeof r !== 'object' || Array.isArray(r))
    throw new TypeError(
      `rateLimit must be an object { limit, period, key? }, got ${JSON.stringify(r)}`,
    );
  const { limit, period, key } = r as { limit?: unknown; period?: unknown; key?: unknown };
  return {
    ...rateOf(limit, period, 'rateLimit.'),
    keySpec: key === undefined ? null : keySpecOf(key, 'rateLimit.key'),
  };
}

function fairnessOf(value: unknown): 'org' | 'off' {
  if (value === undefined || value === 'org') return 'org';
  if (value === false) return 'off';
  throw new TypeError(
    `fairness must be 'org' or false, got ${JSON.stringify(value) ?? String(value)}`,
  );
}

/** Checks a task definition's policy fields; throws naming the first bad one. */
export function taskSettings(
  def: AnyTaskDefinition,
  defaults: SyncDefaults & { cancelGraceMs: number },
): TaskSettings {
  if (def.isRetryable !== undefined && typeof def.isRetryable !== 'function')
    throw new TypeError('isRetryable must be a function (error) => boolean');
  const timeoutMs = def.timeout === undefined ? null : parseDuration(def.timeout, 'timeout');
  if (timeoutMs === 0) throw new RangeError('timeout must be more than 0');
  if (timeoutMs !== null && timeoutMs > MAX_TIMER_MS)
    throw new RangeError(`timeout must be at most ${MAX_TIMER_MS} ms (about 24.8 days)`);
  const cancelGraceMs =
    def.cancelGrace === undefined
      ? defaults.cancelGraceMs
      : parseDuration(def.cancelGrace, 'cancelGrace');
  if (cancelGraceMs > MAX_TIMER_MS)
    throw new RangeError(`cancelGrace must be at most ${MAX_TIMER_MS} ms (about 24.8 days)`);
  return {
    maxAttempts:
      def.maxAttempts === undefined
        ? defaults.maxAttempts
        : wholeNumber(def.maxAttempts, 'maxAttempts', 1, 32_767),
    maxPayloadBytes:
      def.maxPayloadBytes === undefined
        ? defaults.maxPayloadBytes
        : wholeNumber(def.maxPayloadBytes, 'maxPayloadBytes', 2, 100 * 1024 * 1024),
    backoff: def.backoff === undefined ? null : normalizeBackoff(def.backoff),
    timeoutMs,
    cancelGraceMs,
    orgConcurrency:
      def.orgConcurrency === undefined
        ? null
        : wholeNumber(def.orgConcurrency, 'orgConcurrency', 1, 100_000),
    maxConcurrent:
      def.maxConcurrent === undefined
        ? null
        : wholeNumber(def.maxConcurrent, 'maxConcurrent', 1, 100_000),
    keyConcurrency: keyConcurrencyOf(def),
    rateLimit: rateLimitOf(def),
    fairness: fairnessOf(def.fairness),
    isRetryable: def.isRetryable ?? null,
    limits: limitsOf(def),
  };
}

function categoryOf(def: AnyTaskDefinition, type: string): string | null {
  if (def.category === undefined) return null;
  if (!isTaskCategory(def.category))
    throw new Error(
      `task "${type}": category must be one of ${TASK_CATEGORIES.join(', ')}, got ${JSON.stringify(def.category)}`,
    );
  return def.category;
}

function notifyOf(def: AnyTaskDefinition, type: string): string | null {
  if (def.notify === undefined) return null;
  try {
    const { email, on } = def.notify;
    return JSON.stringify(checkEmailNotification(email, on, 'notify.email', 'notify.on'));
  } catch (error) {
    throw new Error(`task "${type}": ${(error as Error).message}`, { cause: error });
  }
}

function webhookOf(def: AnyTaskDefinition, type: string): string | null {
  if (def.webhook === undefined) return null;
  if (!isWebhookUrl(def.webhook))
    throw new Error(`task "${type}": webhook must be an http(s) URL, got ${String(def.webhook)}`);
  return def.webhook;
}

/**
 * {@link syncTaskTypes} on a pool, with the configuration's {@link taskDefaults}: what a jobdeck
 * process does once at its start (`jobdeck start`, `worker`, `serve`, `migrate`, `startWorker`).
 */
export async function registerTaskTypes(
  pool: pg.Pool,
  registry: TaskRegistry,
  config: Parameters<typeof taskDefaults>[0],
): Promise<void> {
  const db = createDb(pool);
  try {
    await syncTaskTypes(db, registry, taskDefaults(config));
  } finally {
    await db.destroy();
  }
}

/**
 * Registers (or updates) the task types in the database, so every enqueue path can check them,
 * with their `maxConcurrent` limits: a type registered without one loses the limit it had.
 */
export async function syncTaskTypes(
  db: Kysely<Database>,
  registry: TaskRegistry,
  defaults: SyncDefaults,
): Promise<void> {
  if (registry.size === 0) return;
  const limits: { scope: 'type'; key: string; max_running: number }[] = [];
  const unlimited: string[] = [];
  const rates: {
    scope: 'type';
    name: string;
    max_starts: number;
    period: string;
    key_spec: string | null;
  }[] = [];
  const unrated: string[] = [];
  const rows = [...registry].map(([type, def]) => {
    const schema = payloadJsonSchema(def, type);
    let settings: TaskSettings;
    try {
      settings = taskSettings(def, { cancelGraceMs: 10_000, ...defaults });
    } catch (error) {
      throw new Error(`task "${type}": ${(error as Error).message}`, { cause: error });
    }
    if (settings.maxConcurrent === null) unlimited.push(type);
    else limits.push({ scope: 'type', key: type, max_running: settings.maxConcurrent });
    if (settings.rateLimit === null) unrated.push(type);
    else
      rates.push({
        scope: 'type',
        name: type,
        max_starts: settings.rateLimit.maxStarts,
        period: `${settings.rateLimit.periodMs} milliseconds`,
        key_spec: settings.rateLimit.keySpec,
      });
    return {
      type,
      payload_schema: schema ? JSON.stringify(schema) : null,
      max_attempts: settings.maxAttempts,
      max_payload_bytes: settings.maxPayloadBytes,
      description: def.description ?? null,
      backoff: settings.backoff ? JSON.stringify(settings.backoff) : null,
      timeout_ms: settings.timeoutMs,
      cancel_grace_ms: def.cancelGrace === undefined ? null : settings.cancelGraceMs,
      org_concurrency: settings.orgConcurrency,
      key_concurrency: settings.keyConcurrency?.limit ?? null,
      concurrency_key_spec: settings.keyConcurrency?.keySpec ?? null,
      fairness: def.fairness === undefined ? null : settings.fairness,
      api_enqueue: def.enqueueFromApi !== false,
      webhook_url: webhookOf(def, type),
      category: categoryOf(def, type),
      notify_email: notifyOf(def, type),
    };
  });
  await db
    .insertInto('jobdeck_private.task_types')
    .values(rows)
    .onConflict((oc) =>
      // A redeploy rewrites every setting the rows carry (`excluded` is the row just offered).
      oc.column('type').doUpdateSet({
        ...Object.fromEntries(
          Object.keys(rows[0]!)
            .filter((column) => column !== 'type')
            .map((column) => [column, sql.ref(`excluded.${column}`)]),
        ),
        updated_at: sql`now()`,
      }),
    )
    .execute();
  await syncTypeRows(db, CONCURRENCY_ROWS, limits, unlimited);
  // A rate limit that changed starts afresh (jobdeck_private.reset_rate_limit: its buckets
  // dropped, its waiting jobs tried again under the new rate); an unchanged one keeps its buckets.
  const changed = await syncTypeRows(db, RATE_ROWS, rates, unrated);
  for (const name of changed)
    await sql`select jobdeck_private.reset_rate_limit('type', ${name})`.execute(db);
}

/** Where one per-type setting is stored: its table, its key column, and the columns it sets. */
interface TypeRows {
  table: 'jobdeck_private.concurrency_limits' | 'jobdeck_private.rate_limits';
  key: 'key' | 'name';
  columns: readonly string[];
}

const CONCURRENCY_ROWS: TypeRows = {
  table: 'jobdeck_private.concurrency_limits',
  key: 'key',
  columns: ['max_running'],
};
const RATE_ROWS: TypeRows = {
  table: 'jobdeck_private.rate_limits',
  key: 'name',
  columns: ['max_starts', 'period', 'key_spec'],
};

/**
 * Makes a per-type setting's rows (scope `type`) match the task types: deletes the rows of
 * `removed` (types registered without the setting) and upserts `rows`, rewriting a row only where
 * one of its columns changed. Returns the names deleted or rewritten.
 */
async function syncTypeRows(
  db: Kysely<Database>,
  target: TypeRows,
  rows: readonly object[],
  removed: readonly string[],
): Promise<string[]> {
  const { table, key, columns } = target;
  const changed: string[] = [];
  if (removed.length > 0) {
    const gone = await sql<{ name: string }>`
      delete from ${sql.table(table)} where scope = 'type' and ${sql.ref(key)} in (${sql.join(removed)})
      returning ${sql.ref(key)} as name`.execute(db);
    changed.push(...gone.rows.map((r) => r.name));
  }
  if (rows.length > 0) {
    const own = (column: string) => sql.ref(`${table}.${column}`);
    const offered = (column: string) => sql.ref(`excluded.${column}`);
    const names = sql.join(Object.keys(rows[0]!).map((column) => sql.ref(column)));
    const written = await sql<{ name: string }>`
      insert into ${sql.table(table)} (${names})
      select ${names} from jsonb_populate_recordset(null::${sql.table(table)}, ${JSON.stringify(rows)}::jsonb)
      on conflict (scope, ${sql.ref(key)}) do update
        set ${sql.join(columns.map((c) => sql`${sql.ref(c)} = ${offered(c)}`))}, updated_at = now()
        where (${sql.join(columns.map(own))}) is distinct from (${sql.join(columns.map(offered))})
      returning ${sql.ref(key)} as name`.execute(db);
    changed.push(...written.rows.map((r) => r.name));
  }
  return changed;
}
