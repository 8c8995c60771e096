import { Priority, type PriorityName } from '../jobs/policy.ts';
import { UsageError } from './usage.ts';

/** Flag values as node:util parseArgs returns them. */
export type Values = Record<string, unknown>;

/** A whole-number flag's value within [min, max]. */
export function intFlag(
  values: Values,
  name: string,
  min: number,
  max: number,
): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !/^-?\d+$/.test(raw))
    throw new UsageError(`--${name} must be a whole number, got "${String(raw)}"`);
  const value = Number(raw);
  if (value < min || value > max)
    throw new UsageError(`--${name} must be from ${min} to ${max}, got ${raw}`);
  return value;
}

/** A string flag's value; an empty one is refused (`--key=` is a mistake, not a key). */
export function stringFlag(values: Values, name: string): string | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw === '') throw new UsageError(`--${name} needs a value`);
  return raw;
}

/** A time the database can store: ISO text between years 1 and 9999. */
export function timeFlag(text: string, name: string, example: string): Date {
  const date = new Date(text);
  const year = date.getUTCFullYear();
  if (Number.isNaN(date.getTime()) || year < 1 || year > 9999)
    throw new UsageError(`--${name} must be ${example}, got "${text}"`);
  return date;
}

/** The one job id a command takes as its argument. */
export function oneJobId(command: string, positionals: string[]): string {
  const [id, ...extra] = positionals;
  if (!id) throw new UsageError(`${command} needs a job id, e.g. jobdeck ${command} <id>`);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  return id;
}

/** `--priority <n|urgent|high|normal|low>`, as a number. */
export function priorityFlag(values: Values): number | undefined {
  const priorityText = stringFlag(values, 'priority');
  if (priorityText === undefined) return undefined;
  const name = priorityText.toLowerCase();
  if (/^-?\d+$/.test(priorityText)) return intFlag(values, 'priority', -32768, 32767);
  // own names only: "constructor" is in every object
  if (Object.hasOwn(Priority, name)) return Priority[name as PriorityName];
  throw new UsageError(
    `--priority must be a whole number or one of ${Object.keys(Priority).join(', ')}, got "${priorityText}"`,
  );
}
