import { z } from 'zod';
import { InvalidArgumentError } from '../errors.ts';

/** The outcomes an e-mail notification can be sent for. */
export const NOTIFY_EVENTS = ['succeeded', 'failed'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** Most addresses one notification may name: a job tells its people, it is not a mailing list. */
export const MAX_EMAIL_RECIPIENTS = 10;

/** A task type's `notify` option. */
export interface EmailNotification {
  /** One address or up to {@link MAX_EMAIL_RECIPIENTS}. */
  email: string | readonly string[];
  /** Outcomes to mail about; default both. */
  on?: readonly NotifyEvent[];
}

/** A notification as stored (`jobs.notify_email`, `task_types.notify_email`). */
export interface StoredEmailNotification {
  to: string[];
  on: NotifyEvent[];
}

const address = z.email().max(254);

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 100)) : typeof value;
}

/**
 * Checks the addresses and outcomes of an e-mail notification and returns them as stored, without
 * duplicates. `name` is the option's name in messages (`notifyEmail`, `task "x": notify.email`).
 * The SQL side (sql/notifications/set_email_notification.sql) checks the same for SQL callers.
 *
 * @throws InvalidArgumentError naming the entry that is wrong and why.
 */
export function checkEmailNotification(
  email: unknown,
  on: unknown,
  name: string,
  onName = 'on',
): StoredEmailNotification {
  // Counted without repeats, as the SQL check does.
  const list: unknown[] = [...new Set<unknown>(Array.isArray(email) ? email : [email])];
  if (list.length < 1 || list.length > MAX_EMAIL_RECIPIENTS)
    throw new InvalidArgumentError(
      `${name} must list 1 to ${MAX_EMAIL_RECIPIENTS} addresses, got ${list.length}`,
    );
  list.forEach((entry, index) => {
    if (!address.safeParse(entry).success)
      throw new InvalidArgumentError(
        `${name}${Array.isArray(email) ? `[${index}]` : ''} must be an e-mail address (local@domain.tld, at most 254 characters), got ${show(entry)}`,
      );
  });
  const events: unknown[] = on === undefined ? [...NOTIFY_EVENTS] : Array.isArray(on) ? on : [on];
  if (events.length === 0 || events.some((event) => !NOTIFY_EVENTS.includes(event as NotifyEvent)))
    throw new InvalidArgumentError(
      `${onName} must list succeeded and/or failed, got ${show(JSON.stringify(on))}`,
    );
  return {
    to: list as string[],
    on: NOTIFY_EVENTS.filter((event) => events.includes(event)),
  };
}
