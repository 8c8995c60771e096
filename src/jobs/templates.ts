import type { Job, JobTemplateRow } from '../db/types.ts';
import { queryRows, type Executor } from '../db/executor.ts';
import { InvalidArgumentError } from '../errors.ts';
import { resolvePriority, type PriorityName } from './policy.ts';
import { callSql, translateDatabaseError } from './db-errors.ts';
import { specParams, type EnqueueArgs, type EnqueueSettings } from './enqueue.ts';
import type { NotifyEvent } from './email-notification.ts';

/**
 * Job templates (issue 21, item 5): named presets of an enqueue, stored in
 * `jobdeck.job_templates` (migration 000020). Trusted callers define them; everyone who may
 * enqueue enqueues by name. Per-type limits (concurrency, rate limits, timeouts) stay on
 * `defineTask`: a template carries only what a single enqueue can.
 */

/** A template's name: 1 to 128 letters, digits, `_ . : -`, starting with a letter or digit. */
export const TEMPLATE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

/** What {@link setTemplateOn} stores under a name. */
export interface TemplateDefinition {
  /** The task type of the jobs it makes (must be registered). */
  type: string;
  /**
   * Payload defaults: the payload given at enqueue is deep-merged over them (objects merged key by
   * key, anything else replaced), then validated by the task's payload schema.
   */
  payload?: Record<string, unknown>;
  priority?: number | PriorityName | null;
  queue?: string | null;
  maxAttempts?: number | null;
  /** As `EnqueueOptions.webhookUrl`: never shown through the API. */
  webhookUrl?: string | null;
  /** As `EnqueueOptions.notifyEmail`: never shown through the API. */
  notifyEmail?: string | readonly string[] | null;
  notifyOn?: readonly NotifyEvent[] | null;
  description?: string | null;
  /** Only this organisation's callers may use it, and its jobs are that organisation's; default: every organisation. */
  orgId?: string | null;
}

/** A stored template. */
export interface JobTemplate {
  name: string;
  type: string;
  payloadDefaults: Record<string, unknown>;
  priority: number | null;
  queue: string | null;
  maxAttempts: number | null;
  webhookUrl: string | null;
  notifyEmail: string[] | null;
  notifyOn: NotifyEvent[] | null;
  description: string | null;
  orgId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A template as the API shows it: without its webhook URL and e-mail addresses. */
export type PublicJobTemplate = Omit<JobTemplate, 'webhookUrl' | 'notifyEmail'>;

function templateOf(row: JobTemplateRow): JobTemplate {
  return {
    name: row.name,
    type: row.type,
    payloadDefaults: (row.payload_defaults ?? {}) as Record<string, unknown>,
    priority: row.priority,
    queue: row.queue,
    maxAttempts: row.max_attempts,
    webhookUrl: row.webhook_url,
    notifyEmail: row.notify_email,
    notifyOn: row.notify_on as NotifyEvent[] | null,
    description: row.description,
    orgId: row.org_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** @throws InvalidArgumentError when `name` is not a template name. */
export function checkTemplateName(name: unknown): string {
  if (typeof name !== 'string' || !TEMPLATE_NAME_PATTERN.test(name))
    throw new InvalidArgumentError(
      `template name must be 1 to 128 letters, digits, _ . : or - (starting with a letter or digit), got ${JSON.stringify(name) ?? String(name)}`,
    );
  return name;
}

const call = <T>(executor: Executor, text: string, values: unknown[], type = '') =>
  callSql<T>(executor, text, values, { type, hint: true });

/**
 * Creates or replaces the template `name` (trusted callers: `jobdeck.set_job_template`). Its
 * options are checked as an enqueue's would be (webhook URL target, e-mail addresses).
 */
export async function setTemplateOn(
  executor: Executor,
  name: string,
  definition: TemplateDefinition,
  settings: EnqueueSettings = {},
): Promise<JobTemplate> {
  checkTemplateName(name);
  if (typeof definition !== 'object' || definition === null)
    throw new InvalidArgumentError('a template definition must be an object { type, … }');
  const payload = definition.payload ?? {};
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    throw new InvalidArgumentError(`template "${name}": payload defaults must be a plain object`);
  let priority: number | undefined;
  try {
    priority = resolvePriority(definition.priority ?? undefined);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
  // The enqueue's own checks of each option (and of the JSON), with the template's type.
  const params = specParams(
    {
      type: definition.type,
      payload,
      priority,
      maxAttempts: definition.maxAttempts ?? undefined,
      queue: definition.queue ?? undefined,
      webhookUrl: definition.webhookUrl ?? undefined,
      notifyEmail: definition.notifyEmail ?? undefined,
      notifyOn: definition.notifyOn ?? undefined,
    },
    settings,
  );
  if (definition.description !== undefined && definition.description !== null) {
    if (typeof definition.description !== 'string' || definition.description.length < 1)
      throw new InvalidArgumentError('description must be 1 to 1000 characters');
  }
  const rows = await call<JobTemplateRow>(
    executor,
    `select * from jobdeck.set_job_template(name => $1, type => $2, payload_defaults => $3::jsonb,
       priority => $4, queue => $5, max_attempts => $6, webhook_url => $7, notify_email => $8::text[],
       notify_on => $9::text[], description => $10, org_id => $11)`,
    [
      name,
      params[0],
      params[1],
      priority ?? null,
      params[6],
      params[4],
      params[13],
      params[14],
      params[15],
      definition.description ?? null,
      definition.orgId ?? null,
    ],
    definition.type,
  );
  return templateOf(rows[0]!);
}

/** Removes the template `name`; true when it existed. Jobs made from it are untouched. */
export async function deleteTemplateOn(executor: Executor, name: string): Promise<boolean> {
  checkTemplateName(name);
  const rows = await call<{ deleted: boolean }>(
    executor,
    'select jobdeck.delete_job_template($1) as deleted',
    [name],
  );
  return rows[0]!.deleted;
}

/** Every template (trusted callers), by name; `orgId` narrows to the global ones and that organisation's. */
export async function listTemplatesOn(
  executor: Executor,
  options: { orgId?: string } = {},
): Promise<JobTemplate[]> {
  const rows = await call<JobTemplateRow>(
    executor,
    `select * from jobdeck.job_templates t
      where $1::text is null or t.org_id is null or t.org_id = $1 order by t.name`,
    [options.orgId ?? null],
  );
  return rows.map(templateOf);
}

/** The templates an API caller may use (row-level security decides), by name. */
export async function listTemplatesAsCaller(executor: Executor): Promise<PublicJobTemplate[]> {
  const rows = await call<JobTemplateRow>(
    executor,
    // Named columns: the request roles may not read webhook_url and notify_email.
    `select name, type, payload_defaults, priority, queue, max_attempts, notify_on, description, org_id,
            created_at, updated_at
       from jobdeck.job_templates order by name`,
    [],
  );
  return rows.map((row) => {
    const { webhookUrl: _url, notifyEmail: _email, ...rest } = templateOf(row);
    return rest;
  });
}

/**
 * Enqueues a job from the template `name` (trusted callers: `jobdeck.enqueue_template`): `payload`
 * deep-merged over the template's defaults; each option given wins over the template's; the job's
 * `metadata.template` names the template. Unknown template: JobNotFoundError (its message names
 * the template).
 */
export async function enqueueFromTemplateOn(
  executor: Executor,
  ...[name, payload, options = {}, settings = {}]: EnqueueArgs
): Promise<Job> {
  checkTemplateName(name);
  if (options.dependsOn !== undefined || options.onDependencyFailure !== undefined)
    throw new InvalidArgumentError(
      'dependsOn is not taken by enqueueFromTemplate: enqueue the job with enqueueJob to give it dependencies',
    );
  // Checked as any enqueue's options; the type is the template's, named here for the messages.
  const params = specParams({ ...options, type: `template "${name}"`, payload }, settings);
  const rows = await call<Job>(
    executor,
    `select * from jobdeck.enqueue_template(
       name => $1, payload => $2::jsonb, priority => $3, run_at => $4::timestamptz, max_attempts => $5,
       key => $6, queue => $7, owner_id => $8, org_id => $9, related_type => $10, related_id => $11,
       metadata => $12::jsonb, key_mode => $13, webhook_url => $14, notify_email => $15::text[],
       notify_on => $16::text[])`,
    [
      name,
      ...params.slice(1, 2),
      options.priority === undefined ? null : params[2],
      // up to notify_on: no dependencies here (refused above)
      ...params.slice(3, 16),
    ],
  );
  return rows[0]!;
}

/** What an API caller may choose when enqueueing from a template (`jobdeck.enqueue_from_template`). */
export interface CallerTemplateOptions {
  /** -20 (urgent) to 10 (low); default the template's. */
  priority?: number | undefined;
  /** 1 to 25; default the template's, else the task definition's. */
  maxAttempts?: number | undefined;
  /** Dedupe key, within the caller's own jobs. */
  key?: string | undefined;
}

/**
 * Enqueues from a template as the signed-in API caller (GraphQL's `enqueueFromTemplate`, REST's
 * `POST /api/v2/templates/:name/jobs`): owner and organisation from the caller's claims on
 * `executor`; a template of another organisation is "not found".
 */
export async function enqueueFromTemplateAsCaller(
  executor: Executor,
  name: string,
  payload: unknown,
  options: CallerTemplateOptions = {},
): Promise<Job> {
  checkTemplateName(name);
  try {
    const rows = await queryRows<Job>(
      executor,
      'select * from jobdeck.enqueue_from_template($1, $2::jsonb, $3::integer, $4::integer, $5)',
      [
        name,
        JSON.stringify(payload ?? {}),
        options.priority ?? null,
        options.maxAttempts ?? null,
        options.key ?? null,
      ],
    );
    return rows[0]!;
  } catch (error) {
    throw translateDatabaseError(error) ?? error;
  }
}
