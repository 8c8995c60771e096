import type { Job } from '../db/types.ts';
import { queryRows, type Executor } from '../db/executor.ts';
import { resolvePriority, type PriorityName } from './policy.ts';
import { translateDatabaseError } from './db-errors.ts';
import { InvalidArgumentError, InvalidPayloadError, UnknownJobTypeError } from '../errors.ts';
import { loadSmtpUrl, loadWebhookAllowInternal } from '../config.ts';
import { checkEmailNotification, type NotifyEvent } from './email-notification.ts';
import type { AllowList } from '../util/addresses.ts';
import { checkWebhookUrl, webhookAllowList } from './webhook-targets.ts';
import { tracedEnqueue, withTraceparent } from '../telemetry/tracing.ts';
import { DEPENDENCY_FAILURE_POLICIES, type DependencyFailurePolicy } from './states.ts';
import { isJobId } from './ids.ts';

/** Options of one enqueue. Every field is optional. */
export interface EnqueueOptions {
  /**
   * Lower runs sooner (Graphile Worker's convention); -32768..32767 or a name: `urgent` (-20),
   * `high` (-10), `normal` (0), `low` (10). Default 0.
   */
  priority?: number | PriorityName;
  /** Run no earlier than this. */
  runAt?: Date | string;
  /** Attempts before the job is failed; default from the task definition. */
  maxAttempts?: number;
  /** Dedupe key: while a job with this key is unfinished, there is only one (see `keyMode`). */
  key?: string;
  /**
   * What a second enqueue with the same `key` does while the first job is unfinished. `keep`
   * (default): returns the existing job unchanged. `replace`: a waiting job takes the new payload
   * and options; a running one keeps running and the new job queues behind it.
   */
  keyMode?: 'keep' | 'replace';
  /** Named queue: jobs in one queue run one at a time, in order. */
  queue?: string;
  ownerId?: string;
  orgId?: string;
  /** The entity this job works on, e.g. `{ type: 'dataset', id: '42' }`. */
  related?: { type: string; id: string };
  /** Free-form JSON object stored with the job. */
  metadata?: Record<string, unknown>;
  /**
   * An http(s) URL called (POST, HMAC-signed) when the job succeeds or fails; the call is a
   * tracked `deliver_webhook` job with retries. Overrides the task type's `webhook`. Refused when
   * its host is an internal address or `localhost`, unless JOBDECK_WEBHOOK_ALLOW_INTERNAL allows
   * it (a name resolving to an internal address is refused at delivery). Never shown through the
   * API: it may hold a secret.
   */
  webhookUrl?: string;
  /**
   * E-mail these addresses (one, or up to 10) when the job succeeds or fails (see `notifyOn`);
   * each message is a tracked `deliver_email` job with retries. Overrides the task type's
   * `notify`. Refused when JOBDECK_SMTP_URL is not set. Never shown through the API.
   */
  notifyEmail?: string | readonly string[];
  /** Which outcomes `notifyEmail` is told of; default both. */
  notifyOn?: readonly NotifyEvent[];
  /**
   * Ids of existing jobs (up to 1000) this job waits for: it is `waiting`, held out of the queue,
   * until every one of them has succeeded. An unknown id (or a job the caller may not see) is
   * refused, naming it. Cannot be combined with `key`.
   */
  dependsOn?: readonly string[];
  /**
   * What happens when a dependency fails for good or is cancelled: `cancel` (default; this job
   * is cancelled, and its own waiting dependants with the same policy) or `run` (it runs once
   * every dependency has finished). Also applies at enqueue to a dependency that already failed.
   */
  onDependencyFailure?: DependencyFailurePolicy;
}

/** What an enqueue checks against besides the job itself. */
export interface EnqueueSettings {
  /**
   * Internal webhook targets allowed (`webhookAllowList(config.webhookAllowInternal)`); default:
   * JOBDECK_WEBHOOK_ALLOW_INTERNAL, read when a job has a `webhookUrl`.
   */
  webhookAllow?: AllowList | undefined;
  /**
   * Whether e-mail can be sent (an SMTP server is configured); default: whether JOBDECK_SMTP_URL
   * is set, read when a job has a `notifyEmail`.
   */
  emailConfigured?: boolean | undefined;
}

/** One job of a bulk enqueue. */
export interface JobSpec extends EnqueueOptions {
  type: string;
  payload?: unknown;
}

const ENQUEUE_SQL = `select * from jobdeck.enqueue(
  type => $1, payload => $2::jsonb, priority => $3, run_at => $4::timestamptz, max_attempts => $5,
  key => $6, queue => $7, owner_id => $8, org_id => $9, related_type => $10, related_id => $11,
  metadata => $12::jsonb, key_mode => $13, webhook_url => $14, notify_email => $15::text[],
  notify_on => $16::text[], depends_on => $17::uuid[], on_dependency_failure => $18)`;

function toJson(value: unknown, what: string, type: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value === undefined ? {} : value);
  } catch (error) {
    throw new InvalidPayloadError(
      type,
      [`${what} is not JSON-serialisable: ${(error as Error).message}`],
      { cause: error },
    );
  }
  if (text === undefined) throw new InvalidPayloadError(type, [`${what} is not JSON-serialisable`]);
  return text;
}

/** A value for an error message; never throws (a prototype-less object has no toString). */
function show(value: unknown): string {
  try {
    return String(value).slice(0, 200);
  } catch {
    return typeof value;
  }
}

function toRunAt(runAt: Date | string | undefined): string | null {
  if (runAt === undefined || runAt === null) return null;
  const date =
    runAt instanceof Date ? runAt : typeof runAt === 'string' ? new Date(runAt) : new Date(NaN);
  if (Number.isNaN(date.getTime()))
    throw new InvalidArgumentError(`runAt must be a valid date, got ${show(runAt)}`);
  const year = date.getUTCFullYear();
  if (year < 1 || year > 9999)
    throw new InvalidArgumentError(`runAt must fall in the years 1 to 9999, got ${year}`);
  return date.toISOString();
}

function checkInteger(name: string, value: number | undefined): void {
  if (value !== undefined && !Number.isInteger(value)) {
    throw new InvalidArgumentError(`${name} must be a whole number, got ${show(value)}`);
  }
}

/** Limits of the text columns (the table's CHECK constraints), checked before any SQL runs. */
const TEXT_LIMITS: readonly [name: string, get: (spec: JobSpec) => unknown, max: number][] = [
  ['key', (spec) => spec.key, 512],
  ['queue', (spec) => spec.queue, 128],
  ['ownerId', (spec) => spec.ownerId, 200],
  ['orgId', (spec) => spec.orgId, 200],
  ['related.type', (spec) => spec.related?.type, 100],
  ['related.id', (spec) => spec.related?.id, 200],
];

function checkText(spec: JobSpec): void {
  if (spec.related !== undefined && (typeof spec.related !== 'object' || spec.related === null))
    throw new InvalidArgumentError('related must be an object {type, id}');
  for (const [name, get, max] of TEXT_LIMITS) {
    const value = get(spec);
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string')
      throw new InvalidArgumentError(`${name} must be a string, got ${typeof value}`);
    if (value.length < 1 || value.length > max)
      throw new InvalidArgumentError(
        `${name} must be 1 to ${max} characters long, got ${value.length}`,
      );
    if (value.includes('\u0000'))
      throw new InvalidArgumentError(`${name} must not contain NUL characters`);
  }
}

/** PostgreSQL cannot store U+0000 in jsonb (nor in text). */
function checkNoNul(json: string, what: string, type: string): string {
  // An escaped NUL, not an escaped backslash followed by the text "u0000".
  if (/(?<!\\)(?:\\\\)*\\u0000/.test(json))
    throw new InvalidPayloadError(type, [
      `${what} contains a NUL character (\\u0000), which PostgreSQL cannot store`,
    ]);
  return json;
}

/**
 * The checked SQL parameters of one job spec, in jobdeck.enqueue's order (type, payload, priority,
 * run_at, max_attempts, key, queue, owner_id, org_id, related_type, related_id, metadata,
 * key_mode, webhook_url, notify_email, notify_on, depends_on, on_dependency_failure).
 */
export function specParams(spec: JobSpec, settings: EnqueueSettings): unknown[] {
  if (typeof spec.type !== 'string' || spec.type === '')
    throw new UnknownJobTypeError(String(spec.type), 'job type is required');
  let priority: number | undefined;
  try {
    priority = resolvePriority(spec.priority);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
  checkInteger('priority', priority);
  checkInteger('maxAttempts', spec.maxAttempts);
  checkText(spec);
  if (spec.keyMode !== undefined && spec.keyMode !== 'keep' && spec.keyMode !== 'replace')
    throw new InvalidArgumentError(`keyMode must be keep or replace, got ${show(spec.keyMode)}`);
  if (
    spec.metadata !== undefined &&
    (typeof spec.metadata !== 'object' || spec.metadata === null || Array.isArray(spec.metadata))
  ) {
    throw new InvalidArgumentError('metadata must be a plain object');
  }
  if (spec.webhookUrl !== undefined) {
    if (!isWebhookUrl(spec.webhookUrl))
      throw new InvalidArgumentError(
        `webhookUrl must be an http(s) URL of at most 2000 characters, got ${showUrl(spec.webhookUrl)}`,
      );
    checkWebhookUrl(
      spec.webhookUrl,
      settings.webhookAllow ?? webhookAllowList(loadWebhookAllowInternal()),
    );
  }
  const notify = emailNotificationOf(spec, settings);
  const dependsOn = checkDependsOn(spec);
  return [
    spec.type,
    checkNoNul(toJson(spec.payload, 'payload', spec.type), 'payload', spec.type),
    priority ?? 0,
    toRunAt(spec.runAt),
    spec.maxAttempts ?? null,
    spec.key ?? null,
    spec.queue ?? null,
    spec.ownerId ?? null,
    spec.orgId ?? null,
    spec.related?.type ?? null,
    spec.related?.id ?? null,
    checkNoNul(toJson(spec.metadata ?? {}, 'metadata', spec.type), 'metadata', spec.type),
    spec.keyMode ?? 'keep',
    spec.webhookUrl ?? null,
    notify?.to ?? null,
    notify?.on ?? null,
    dependsOn,
    dependsOn === null ? null : (spec.onDependencyFailure ?? 'cancel'),
  ];
}

/** The checked `onDependencyFailure` of a spec: one of the policies, or undefined. */
export function checkDependencyPolicy(policy: unknown): DependencyFailurePolicy | undefined {
  if (policy === undefined || policy === null) return undefined;
  if (!(DEPENDENCY_FAILURE_POLICIES as readonly unknown[]).includes(policy))
    throw new InvalidArgumentError(
      `onDependencyFailure must be ${DEPENDENCY_FAILURE_POLICIES.join(' or ')}, got ${show(policy)}`,
    );
  return policy as DependencyFailurePolicy;
}

/** The checked `dependsOn` of a spec (null when it has none) and its `onDependencyFailure`. */
export function checkDependsOn(spec: JobSpec): string[] | null {
  const policy = checkDependencyPolicy(spec.onDependencyFailure);
  const ids = spec.dependsOn;
  if (ids === undefined || ids === null) {
    if (policy !== undefined)
      throw new InvalidArgumentError('onDependencyFailure needs dependsOn (the jobs to wait for)');
    return null;
  }
  if (!Array.isArray(ids)) throw new InvalidArgumentError('dependsOn must be an array of job ids');
  if (ids.length > 1000)
    throw new InvalidArgumentError(`dependsOn may list at most 1000 jobs, got ${ids.length}`);
  for (const id of ids as unknown[])
    if (!isJobId(id))
      throw new InvalidArgumentError(`dependsOn must list job ids (UUIDs), got ${show(id)}`);
  if (ids.length > 0 && spec.key !== undefined && spec.key !== null)
    throw new InvalidArgumentError('key cannot be combined with dependsOn');
  return ids.length === 0 ? null : [...ids];
}

/** The checked `notifyEmail`/`notifyOn` of a spec, or undefined when it has none. */
function emailNotificationOf(spec: JobSpec, settings: EnqueueSettings) {
  if (spec.notifyEmail === undefined || spec.notifyEmail === null) {
    if (spec.notifyOn !== undefined && spec.notifyOn !== null)
      throw new InvalidArgumentError('notifyOn needs notifyEmail (the addresses to notify)');
    return undefined;
  }
  const notify = checkEmailNotification(
    spec.notifyEmail,
    spec.notifyOn ?? undefined,
    'notifyEmail',
    'notifyOn',
  );
  if (!(settings.emailConfigured ?? loadSmtpUrl() !== undefined))
    throw new InvalidArgumentError(
      'notifyEmail needs an SMTP server to send through: set JOBDECK_SMTP_URL (smtp:// or smtps://) on the processes that enqueue and run jobs',
    );
  return notify;
}

/** What a refused URL was, without echoing it: it may hold a secret and ends up in logs. */
function showUrl(value: unknown): string {
  if (typeof value !== 'string') return typeof value;
  if (value.length > 2000) return `${value.length} characters`;
  const parsed = URL.parse(value);
  return parsed ? `a ${parsed.protocol} URL` : 'text that is not a URL';
}

/** An http(s) URL a webhook may be sent to. */
export function isWebhookUrl(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > 2000 || /\s/.test(value)) return false;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * What the `…On` enqueue functions take after the executor: the job type (or, for
 * `enqueueFromTemplateOn`, the template's name), the payload, the enqueue's options, and the
 * process's settings.
 */
export type EnqueueArgs = [
  what: string,
  payload?: unknown,
  options?: EnqueueOptions,
  settings?: EnqueueSettings,
];

/**
 * Enqueues one tracked job on `executor`. Given the caller's transaction (pg client or Kysely
 * transaction), the job exists iff that transaction commits.
 */
export async function enqueueJobOn(
  executor: Executor,
  ...[type, payload, options = {}, settings = {}]: EnqueueArgs
): Promise<Job> {
  const [job] = await tracedEnqueue(String(type), 1, async (traceparent) => {
    const metadata = withTraceparent(options.metadata, traceparent);
    const params = specParams({ ...options, metadata, type, payload }, settings);
    try {
      return await queryRows<Job>(executor, ENQUEUE_SQL, params);
    } catch (error) {
      throw translateDatabaseError(error, { type, hint: true }) ?? error;
    }
  });
  return job!;
}

/** Enqueues many jobs in one statement: all are checked first, then all or none are added. */
export async function enqueueJobsOn(
  executor: Executor,
  specs: readonly JobSpec[],
  settings: EnqueueSettings = {},
): Promise<Job[]> {
  if (!Array.isArray(specs))
    throw new InvalidArgumentError('enqueueJobs expects an array of job specs');
  if (specs.length === 0) return [];
  const types = new Set(specs.map((spec) => spec?.type));
  const name = types.size === 1 ? String(specs[0]?.type) : 'many';
  return tracedEnqueue(name, specs.length, async (traceparent) => {
    const traced =
      traceparent === null
        ? specs
        : specs.map((spec) =>
            spec && typeof spec === 'object'
              ? { ...spec, metadata: withTraceparent(spec.metadata, traceparent) }
              : spec,
          );
    const body = enqueueSpecsJson(traced, settings);
    try {
      return await queryRows<Job>(executor, 'select * from jobdeck.enqueue_many($1::jsonb)', [
        body,
      ]);
    } catch (error) {
      const index = /^jobs\[(\d+)\]/.exec((error as Error).message ?? '')?.[1];
      const type = specs[Number(index ?? 0)]?.type ?? '';
      throw translateDatabaseError(error, { type, hint: true }) ?? error;
    }
  });
}

/**
 * Checks each spec as `enqueueJobs` does and returns them as the JSON array
 * `jobdeck.enqueue_many` (and `enqueue_batch`) takes; errors name the spec (`jobs[3]: …`).
 */
export function enqueueSpecsJson(specs: readonly JobSpec[], settings: EnqueueSettings): string {
  const body = specs.map((spec, index) => {
    try {
      if (spec.dependsOn !== undefined && spec.dependsOn !== null)
        throw new InvalidArgumentError(
          'dependsOn is not taken here: enqueue dependent jobs with enqueueGraph (or enqueueJob)',
        );
      return specJson(spec, settings);
    } catch (error) {
      (error as Error).message = `jobs[${index}]: ${(error as Error).message}`;
      throw error;
    }
  });
  return `[${body.join(',')}]`;
}

/**
 * One checked spec as the JSON object `jobdeck.enqueue_many` (and `enqueue_batch`,
 * `enqueue_graph`) reads; its `dependsOn` is left to the caller.
 */
export function specJson(spec: JobSpec, settings: EnqueueSettings): string {
  const [
    type,
    payload,
    priority,
    runAt,
    maxAttempts,
    key,
    queue,
    ownerId,
    orgId,
    relatedType,
    relatedId,
    metadata,
    keyMode,
    webhookUrl,
    notifyEmail,
    notifyOn,
  ] = specParams({ ...spec, dependsOn: undefined, onDependencyFailure: undefined }, settings);
  return `{"keyMode":${JSON.stringify(keyMode)},"type":${JSON.stringify(type)},"payload":${payload as string},"priority":${JSON.stringify(priority)},"runAt":${JSON.stringify(runAt)},"maxAttempts":${JSON.stringify(maxAttempts)},"key":${JSON.stringify(key)},"queue":${JSON.stringify(queue)},"ownerId":${JSON.stringify(ownerId)},"orgId":${JSON.stringify(orgId)},"relatedType":${JSON.stringify(relatedType)},"relatedId":${JSON.stringify(relatedId)},"metadata":${metadata as string},"webhookUrl":${JSON.stringify(webhookUrl)},"notifyEmail":${JSON.stringify(notifyEmail)},"notifyOn":${JSON.stringify(notifyOn)}}`;
}

/** Options of {@link enqueueJobAsCaller}: what `jobdeck.enqueue_job` lets an API caller choose. */
export interface CallerEnqueueOptions {
  /** -20 (urgent) to 10 (low); default 0. */
  priority?: number;
  /** 1 to 25; default from the task definition. */
  maxAttempts?: number;
  /** Ids of the caller's jobs this one waits for (see {@link EnqueueOptions.dependsOn}). */
  dependsOn?: readonly string[];
  /** See {@link EnqueueOptions.onDependencyFailure}. */
  onDependencyFailure?: DependencyFailurePolicy;
}

/**
 * Enqueues a job as the signed-in API caller (`jobdeck.enqueue_job`, GraphQL's `enqueueJob`): the
 * owner and organisation come from the caller's claims on `executor`, the request's connection,
 * and the database checks the caller's permission and the task type's `api_enqueue`. Errors are
 * translated without the database's hint, which would list every registered task type.
 */
export async function enqueueJobAsCaller(
  executor: Executor,
  type: string,
  payload: unknown,
  options: CallerEnqueueOptions = {},
): Promise<Job> {
  try {
    const rows = await queryRows<Job>(
      executor,
      'select * from jobdeck.enqueue_job($1, $2::jsonb, $3::integer, null, $4::integer, null, $5::uuid[], $6)',
      [
        type,
        JSON.stringify(payload),
        options.priority ?? 0,
        options.maxAttempts ?? null,
        options.dependsOn?.length ? options.dependsOn : null,
        options.onDependencyFailure ?? null,
      ],
    );
    return rows[0]!;
  } catch (error) {
    throw translateDatabaseError(error, { type }) ?? error;
  }
}
