import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  DEPENDENCY_FAILURE_POLICIES,
  JOB_STATUSES,
  isJobStatus,
  type DependencyFailurePolicy,
  type JobStatus,
} from '../jobs/states.ts';
import { JOB_ID_PATTERN } from '../jobs/ids.ts';
import { PERMISSIONS, type Permission, type Role } from '../auth/identity.ts';
import type { EnqueueOptions } from '../jobs/enqueue.ts';
import type { PauseTarget } from '../jobs/pauses.ts';
import { parseDuration } from '../jobs/policy.ts';
import { intFlag, oneJobId, priorityFlag, stringFlag, timeFlag, type Values } from './flags.ts';
import { UsageError } from './usage.ts';
import { TEMPLATE_FLAGS, templateCommand, type TemplateCommandLine } from './template-line.ts';

/**
 * A command line, parsed and checked: everything `jobdeck` can tell is wrong without a database
 * is refused here with a UsageError (exit code 2), so the commands themselves only do their work.
 */
export type CommandLine =
  | { command: 'help'; exitCode: 0 | 2 }
  | {
      command: 'start' | 'worker' | 'serve' | 'migrate';
      /** `--tasks DIR` as typed (relative to the working directory); overrides JOBDECK_TASKS_DIR. */
      tasksDir?: string;
      /** `--crontab FILE` as typed; overrides JOBDECK_CRONTAB, and then the file must exist. */
      crontabFile?: string;
    }
  | { command: 'init'; dir: string }
  | {
      command: 'token';
      user: string;
      org: string;
      role: Role;
      ttlSeconds: number;
      permissions?: Permission[];
      json: boolean;
    }
  | {
      command: 'enqueue';
      /** The job type; '' with `template`. */
      type: string;
      /** `--template <name>`: enqueue from this job template instead of a type. */
      template?: string;
      payload: unknown;
      options: EnqueueOptions;
      json: boolean;
    }
  | {
      command: 'jobs';
      status?: JobStatus;
      active: boolean;
      type?: string;
      owner?: string;
      org?: string;
      limit: number;
      json: boolean;
    }
  | { command: 'watch'; id: string; json: boolean }
  | { command: 'cancel'; id: string; reason: string | null; wait: boolean; json: boolean }
  | { command: 'retry'; id: string; json: boolean }
  | { command: 'signal'; target: string; event: string; data?: unknown; json: boolean }
  | { command: 'batch'; id: string; cancel: boolean; reason: string | null; json: boolean }
  | { command: 'stats'; since: Date; type?: string; json: boolean }
  | {
      command: 'pause';
      target: PauseTarget;
      reason: string | null;
      cancelRunning: boolean;
      json: boolean;
    }
  | { command: 'resume'; target: PauseTarget; json: boolean }
  | { command: 'pauses'; json: boolean }
  | TemplateCommandLine;

type Options = NonNullable<ParseArgsConfig['options']>;

/** Flags that each take a value (`--name value` or `--name=value`). */
function strings(...names: string[]): Options {
  return Object.fromEntries(names.map((name) => [name, { type: 'string' }]));
}

const json = { json: { type: 'boolean' } } as const;
const paths = { tasks: { type: 'string' }, crontab: { type: 'string' } } as const;

/** The flags each command takes (node:util parseArgs, strict: any other flag is refused). */
const FLAGS: Record<string, Options> = {
  start: { ...paths },
  worker: { ...paths },
  serve: { tasks: paths.tasks },
  migrate: { ...paths },
  init: strings('dir'),
  token: { ...strings('user', 'org', 'role', 'ttl', 'permissions'), ...json },
  enqueue: {
    ...strings(
      'priority',
      'run-at',
      'max-attempts',
      'key',
      'key-mode',
      'queue',
      'owner',
      'org',
      'template',
      'depends-on',
      'on-dependency-failure',
    ),
    ...json,
  },
  jobs: {
    active: { type: 'boolean' },
    ...strings('status', 'type', 'owner', 'org', 'limit'),
    ...json,
  },
  watch: { ...json },
  cancel: { ...strings('reason'), wait: { type: 'boolean' }, ...json },
  retry: { ...json },
  signal: { ...json },
  batch: { ...strings('reason'), cancel: { type: 'boolean' }, ...json },
  stats: { ...strings('since', 'type'), ...json },
  pause: {
    ...strings('type', 'reason'),
    all: { type: 'boolean' },
    'cancel-running': { type: 'boolean' },
    ...json,
  },
  resume: { ...strings('type'), all: { type: 'boolean' }, ...json },
  pauses: { ...json },
  template: { ...TEMPLATE_FLAGS, ...json },
};

/** The commands `jobdeck` knows. */
export const COMMANDS: readonly string[] = Object.keys(FLAGS);

/**
 * Parses `argv` (without the node and script paths).
 *
 * @throws UsageError naming what is wrong: an unknown command or flag, a missing or extra
 *   argument, a value out of range.
 */
export function parseCommandLine(argv: readonly string[], now = Date.now()): CommandLine {
  const [name, ...rest] = argv;
  if (name === undefined) return { command: 'help', exitCode: 2 };
  if (name === 'help' || name === '--help' || name === '-h')
    return { command: 'help', exitCode: 0 };
  const flags = Object.hasOwn(FLAGS, name) ? FLAGS[name] : undefined;
  if (!flags) throw new UsageError(`unknown command "${name}"`);
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...rest], options: flags, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const jsonFlag = values['json'] === true;
  switch (name) {
    case 'start':
    case 'worker':
    case 'serve':
    case 'migrate': {
      if (positionals.length > 0)
        throw new UsageError(`${name} takes no arguments, got: ${positionals.join(' ')}`);
      const tasksDir = stringFlag(values, 'tasks');
      const crontabFile = stringFlag(values, 'crontab');
      return {
        command: name,
        ...(tasksDir !== undefined ? { tasksDir } : {}),
        ...(crontabFile !== undefined ? { crontabFile } : {}),
      };
    }
    case 'init':
      if (positionals.length > 0)
        throw new UsageError(
          `init takes no arguments, got: ${positionals.join(' ')} (use --dir for another folder)`,
        );
      return { command: 'init', dir: stringFlag(values, 'dir') ?? '.' };
    case 'token':
      return { ...tokenCommand(values, positionals), json: jsonFlag };
    case 'enqueue':
      return { ...enqueueCommand(values, positionals), json: jsonFlag };
    case 'jobs':
      return { ...jobsCommand(values, positionals), json: jsonFlag };
    case 'watch': {
      const [id, ...extra] = positionals;
      if (!id || extra.length > 0)
        throw new UsageError('watch needs exactly one job id (or batch id)');
      return { command: 'watch', id, json: jsonFlag };
    }
    case 'cancel':
      return {
        command: 'cancel',
        id: oneJobId('cancel', positionals),
        reason: stringFlag(values, 'reason') ?? null,
        wait: values['wait'] === true,
        json: jsonFlag,
      };
    case 'retry':
      return { command: 'retry', id: oneJobId('retry', positionals), json: jsonFlag };
    case 'signal':
      return { ...signalCommand(positionals), json: jsonFlag };
    case 'batch': {
      const [id, ...extra] = positionals;
      if (!id || extra.length > 0) throw new UsageError('batch needs exactly one batch id');
      const reason = stringFlag(values, 'reason') ?? null;
      if (reason !== null && values['cancel'] !== true)
        throw new UsageError('--reason goes with --cancel');
      return { command: 'batch', id, cancel: values['cancel'] === true, reason, json: jsonFlag };
    }
    case 'pause':
      return {
        command: 'pause',
        target: pauseTarget('pause', values, positionals),
        reason: stringFlag(values, 'reason') ?? null,
        cancelRunning: values['cancel-running'] === true,
        json: jsonFlag,
      };
    case 'resume':
      return {
        command: 'resume',
        target: pauseTarget('resume', values, positionals),
        json: jsonFlag,
      };
    case 'template':
      return templateCommand(values, positionals, jsonFlag);
    case 'pauses':
      if (positionals.length > 0)
        throw new UsageError(`pauses takes no arguments, got: ${positionals.join(' ')}`);
      return { command: 'pauses', json: jsonFlag };
    default:
      return { ...statsCommand(values, positionals, now), json: jsonFlag };
  }
}

/** `<queue>`, `--type <t>` or `--all`: exactly one. */
function pauseTarget(name: string, values: Values, positionals: string[]): PauseTarget {
  const type = stringFlag(values, 'type');
  const all = values['all'] === true;
  const given = [positionals.length > 0, type !== undefined, all].filter(Boolean).length;
  if (given !== 1 || positionals.length > 1)
    throw new UsageError(
      `${name} needs exactly one of: a queue name, --type <task type>, --all (e.g. jobdeck ${name} emails)`,
    );
  if (all) return 'all';
  const key = type ?? positionals[0]!;
  if (key.length < 1 || key.length > 128)
    throw new UsageError(
      `${type !== undefined ? '--type' : 'queue'} must be a name of 1 to 128 characters, got "${key}"`,
    );
  return type !== undefined ? { type } : { queue: key };
}

function tokenCommand(values: Values, positionals: string[]) {
  if (positionals.length > 0)
    throw new UsageError(`token takes no arguments, got "${positionals[0]}"`);
  const user = stringFlag(values, 'user');
  const org = stringFlag(values, 'org');
  if (!user || !org)
    throw new UsageError(
      'token needs --user and --org, e.g. jobdeck token --user alice --org acme',
    );
  const role = stringFlag(values, 'role') ?? 'user';
  if (role !== 'user' && role !== 'admin')
    throw new UsageError(`--role must be user or admin, got "${role}"`);
  let ttlMs: number;
  try {
    ttlMs = parseDuration(stringFlag(values, 'ttl') ?? '1h', '--ttl');
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (ttlMs < 1000) throw new UsageError('--ttl must be at least 1s');
  const permissionsFlag = stringFlag(values, 'permissions');
  let permissions: Permission[] | undefined;
  if (permissionsFlag !== undefined) {
    permissions = [];
    for (const name of permissionsFlag.split(',').map((p) => p.trim())) {
      if (!(PERMISSIONS as readonly string[]).includes(name))
        throw new UsageError(`--permissions: unknown "${name}"; known: ${PERMISSIONS.join(', ')}`);
      permissions.push(name as Permission);
    }
  }
  return {
    command: 'token' as const,
    user,
    org,
    role: role as Role,
    ttlSeconds: Math.floor(ttlMs / 1000),
    ...(permissions ? { permissions } : {}),
  };
}

function enqueueCommand(values: Values, positionals: string[]) {
  const template = stringFlag(values, 'template');
  // With --template, the only argument is the payload.
  const [type, payloadText, ...extra] = template === undefined ? positionals : ['', ...positionals];
  if (!type && template === undefined)
    throw new UsageError(
      'enqueue needs a job type, e.g. jobdeck enqueue export_report \'{"reportType":"quotes","format":"csv"}\'',
    );
  if (extra.length > 0)
    throw new UsageError(
      `unexpected arguments: ${extra.join(' ')} (quote the JSON payload as one argument)`,
    );
  let payload: unknown = {};
  if (payloadText !== undefined) {
    try {
      payload = JSON.parse(payloadText);
    } catch (error) {
      throw new UsageError(`payload is not valid JSON: ${(error as Error).message}`);
    }
    // JSON.parse takes nesting JSON.stringify cannot write back (it recurses): refuse it here,
    // with the other bad command lines, rather than as an exception from the enqueue.
    try {
      JSON.stringify(payload);
    } catch {
      throw new UsageError('payload is nested too deeply');
    }
  }
  const runAt = stringFlag(values, 'run-at');
  const priority = priorityFlag(values);
  const keyMode = stringFlag(values, 'key-mode');
  if (keyMode !== undefined && keyMode !== 'keep' && keyMode !== 'replace')
    throw new UsageError(`--key-mode must be keep or replace, got "${keyMode}"`);
  if (keyMode !== undefined && values['key'] === undefined)
    throw new UsageError('--key-mode needs --key');
  if (template !== undefined && values['depends-on'] !== undefined)
    throw new UsageError('--depends-on cannot be combined with --template');
  const options: EnqueueOptions = {
    ...dependencyFlags(values),
    priority,
    keyMode,
    maxAttempts: intFlag(values, 'max-attempts', 1, 32767),
    runAt: runAt === undefined ? undefined : timeFlag(runAt, 'run-at', 'an ISO date').toISOString(),
    key: stringFlag(values, 'key'),
    queue: stringFlag(values, 'queue'),
    ownerId: stringFlag(values, 'owner'),
    orgId: stringFlag(values, 'org'),
  };
  return {
    command: 'enqueue' as const,
    type: type ?? '',
    ...(template !== undefined ? { template } : {}),
    payload,
    options: Object.fromEntries(
      Object.entries(options).filter(([, v]) => v !== undefined),
    ) as EnqueueOptions,
  };
}

/** `--depends-on <id>[,<id>…]` and `--on-dependency-failure <cancel|run>`. */
function dependencyFlags(
  values: Values,
): Pick<EnqueueOptions, 'dependsOn' | 'onDependencyFailure'> {
  const list = stringFlag(values, 'depends-on');
  const policy = stringFlag(values, 'on-dependency-failure');
  if (policy !== undefined && !(DEPENDENCY_FAILURE_POLICIES as readonly string[]).includes(policy))
    throw new UsageError(`--on-dependency-failure must be cancel or run, got "${policy}"`);
  if (list === undefined) {
    if (policy !== undefined) throw new UsageError('--on-dependency-failure needs --depends-on');
    return {};
  }
  const ids = list.split(',').map((id) => id.trim());
  const bad = ids.find((id) => !JOB_ID_PATTERN.test(id));
  if (bad !== undefined)
    throw new UsageError(
      `--depends-on must list job ids (UUIDs) separated by commas, got "${bad.slice(0, 100)}"`,
    );
  if (values['key'] !== undefined)
    throw new UsageError('--key cannot be combined with --depends-on');
  return {
    dependsOn: ids,
    ...(policy !== undefined ? { onDependencyFailure: policy as DependencyFailurePolicy } : {}),
  };
}

/** `signal <job-id|key> <event> [json-data]`. */
function signalCommand(positionals: string[]) {
  const [target, event, dataText, ...extra] = positionals;
  if (!target || !event)
    throw new UsageError(
      'signal needs a job id (or key) and an event, e.g. jobdeck signal 3f2c… approved \'{"by":"ann"}\'',
    );
  if (extra.length > 0)
    throw new UsageError(
      `unexpected arguments: ${extra.join(' ')} (quote the JSON data as one argument)`,
    );
  if (event.length > 200) throw new UsageError('the event name must be at most 200 characters');
  if (dataText === undefined) return { command: 'signal' as const, target, event };
  let data: unknown;
  try {
    data = JSON.parse(dataText);
  } catch (error) {
    throw new UsageError(`signal data is not valid JSON: ${(error as Error).message}`);
  }
  return { command: 'signal' as const, target, event, data };
}

function jobsCommand(values: Values, positionals: string[]) {
  if (positionals.length > 0)
    throw new UsageError(`jobs takes no arguments, got: ${positionals.join(' ')}`);
  const status = stringFlag(values, 'status');
  if (status !== undefined && !isJobStatus(status))
    throw new UsageError(`--status must be one of ${JOB_STATUSES.join(', ')}`);
  const active = values['active'] === true;
  if (active && status) throw new UsageError('use --active or --status, not both');
  const type = stringFlag(values, 'type');
  const owner = stringFlag(values, 'owner');
  const org = stringFlag(values, 'org');
  return {
    command: 'jobs' as const,
    active,
    limit: intFlag(values, 'limit', 1, 1000) ?? 50,
    ...(status !== undefined ? { status: status as JobStatus } : {}),
    ...(type !== undefined ? { type } : {}),
    ...(owner !== undefined ? { owner } : {}),
    ...(org !== undefined ? { org } : {}),
  };
}

const SINCE = /^(\d+)(m|h|d)$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

function statsCommand(values: Values, positionals: string[], now: number) {
  if (positionals.length > 0)
    throw new UsageError(`stats takes no arguments, got: ${positionals.join(' ')}`);
  const sinceText = stringFlag(values, 'since') ?? '24h';
  const example = 'like 30m, 6h, 7d or an ISO date';
  const relative = SINCE.exec(sinceText);
  let since: Date;
  if (relative) {
    since = new Date(now - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS]);
    const year = since.getUTCFullYear();
    if (Number.isNaN(since.getTime()) || year < 1)
      throw new UsageError(`--since must be ${example}, got "${sinceText}"`);
  } else {
    since = timeFlag(sinceText, 'since', example);
  }
  const type = stringFlag(values, 'type');
  return { command: 'stats' as const, since, ...(type !== undefined ? { type } : {}) };
}
