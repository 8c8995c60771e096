import { checkEmailNotification, type NotifyEvent } from '../jobs/email-notification.ts';
import { TEMPLATE_NAME_PATTERN, type TemplateDefinition } from '../jobs/templates.ts';
import { intFlag, priorityFlag, stringFlag, type Values } from './flags.ts';
import { UsageError } from './usage.ts';

/** `jobdeck template set|list|delete …`, parsed. */
export type TemplateCommandLine =
  | {
      command: 'template';
      action: 'set';
      name: string;
      definition: TemplateDefinition;
      json: boolean;
    }
  | { command: 'template'; action: 'list'; orgId?: string; json: boolean }
  | { command: 'template'; action: 'delete'; name: string; json: boolean };

/** The flags of `jobdeck template` (each action refuses the ones it does not take). */
export const TEMPLATE_FLAGS = Object.fromEntries(
  [
    'type',
    'payload',
    'priority',
    'queue',
    'max-attempts',
    'description',
    'org',
    'webhook-url',
    'notify-email',
    'notify-on',
  ].map((name) => [name, { type: 'string' as const }]),
);

const SET_ONLY = Object.keys(TEMPLATE_FLAGS).filter((flag) => flag !== 'org');

function templateName(action: string, positionals: string[]): string {
  const [name, ...extra] = positionals;
  if (!name) throw new UsageError(`template ${action} needs a template name`);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  if (!TEMPLATE_NAME_PATTERN.test(name))
    throw new UsageError(
      `template name must be 1 to 128 letters, digits, _ . : or - (starting with a letter or digit), got "${name}"`,
    );
  return name;
}

function refuse(action: string, values: Values, flags: readonly string[]): void {
  const given = flags.filter((flag) => values[flag] !== undefined);
  if (given.length > 0)
    throw new UsageError(`template ${action} takes no ${given.map((f) => `--${f}`).join(', ')}`);
}

/** Parses `template set <name> --type t …`, `template list [--org o]`, `template delete <name>`. */
export function templateCommand(
  values: Values,
  positionals: string[],
  json: boolean,
): TemplateCommandLine {
  const [action, ...rest] = positionals;
  if (action === 'list') {
    if (rest.length > 0) throw new UsageError(`template list takes no arguments`);
    refuse('list', values, SET_ONLY);
    const orgId = stringFlag(values, 'org');
    return {
      command: 'template',
      action: 'list',
      ...(orgId !== undefined ? { orgId } : {}),
      json,
    };
  }
  if (action === 'delete') {
    refuse('delete', values, Object.keys(TEMPLATE_FLAGS));
    return { command: 'template', action: 'delete', name: templateName('delete', rest), json };
  }
  if (action !== 'set')
    throw new UsageError(
      `template needs an action: set <name> --type <t> …, list, or delete <name>${action ? `; got "${action}"` : ''}`,
    );
  const name = templateName('set', rest);
  const type = stringFlag(values, 'type');
  if (!type) throw new UsageError('template set needs --type <task type>');
  let payload: Record<string, unknown> = {};
  const payloadText = stringFlag(values, 'payload');
  if (payloadText !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payloadText);
    } catch (error) {
      throw new UsageError(`--payload is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new UsageError('--payload must be a JSON object (the payload defaults)');
    payload = parsed as Record<string, unknown>;
  }
  const list = (flag: string) =>
    stringFlag(values, flag)
      ?.split(',')
      .map((item) => item.trim());
  const notifyEmail = list('notify-email');
  const notifyOn = list('notify-on') as NotifyEvent[] | undefined;
  if (notifyOn && !notifyEmail) throw new UsageError('--notify-on needs --notify-email');
  if (notifyEmail) {
    try {
      checkEmailNotification(notifyEmail, notifyOn, '--notify-email', '--notify-on');
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  const definition: TemplateDefinition = {
    type,
    payload,
    priority: priorityFlag(values) ?? null,
    queue: stringFlag(values, 'queue') ?? null,
    maxAttempts: intFlag(values, 'max-attempts', 1, 32767) ?? null,
    description: stringFlag(values, 'description') ?? null,
    orgId: stringFlag(values, 'org') ?? null,
    webhookUrl: stringFlag(values, 'webhook-url') ?? null,
    notifyEmail: notifyEmail ?? null,
    notifyOn: notifyOn ?? null,
  };
  return { command: 'template', action: 'set', name, definition, json };
}
