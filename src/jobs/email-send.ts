import nodemailer from 'nodemailer';
import type { DeliverySubject } from './deliveries.ts';

/** A rendered notification. */
export interface JobEmail {
  subject: string;
  text: string;
  html: string;
}

/** Longest result summary or error message put in a message, in characters. */
const MAX_DETAIL = 2000;

function clip(text: string): string {
  return text.length > MAX_DETAIL
    ? `${text.slice(0, MAX_DETAIL)}… (${text.length} characters)`
    : text;
}

function duration(job: DeliverySubject): string {
  if (!job.started_at || !job.finished_at) return 'not started';
  const ms = new Date(job.finished_at).getTime() - new Date(job.started_at).getTime();
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The message about a finished job: its type and outcome in the subject; id, status, attempts,
 * duration and either a summary of its result or its last error's message in the body. Only the
 * message: stack traces stay in the job's record (they name files and lines of the worker, and
 * the recipients need not be the people who may read those).
 */
export function renderJobEmail(job: DeliverySubject): JobEmail {
  const succeeded = job.status === 'succeeded';
  const lastError = job.errors.at(-1)?.message ?? '(no error recorded)';
  const detail = succeeded
    ? ['Result', clip(JSON.stringify(job.result ?? null))]
    : ['Error', clip(lastError)];
  const rows: [string, string][] = [
    ['Job', job.id],
    ['Type', job.type],
    ['Status', job.status],
    ['Attempts', String(job.attempts)],
    ['Duration', duration(job)],
    ['Finished at', job.finished_at ? new Date(job.finished_at).toISOString() : '-'],
    [detail[0]!, detail[1]!],
  ];
  const subject = `[jobdeck] ${job.type} ${succeeded ? 'succeeded' : 'failed'} (job ${job.id})`;
  const text = `${rows.map(([k, v]) => `${k}: ${v}`).join('\n')}\n`;
  const html = `<!doctype html><html><body><h1>${escapeHtml(`${job.type} ${job.status}`)}</h1><table>${rows
    .map(
      ([k, v]) =>
        `<tr><th align="left">${escapeHtml(k)}</th><td><pre>${escapeHtml(v)}</pre></td></tr>`,
    )
    .join('')}</table></body></html>`;
  return { subject, text, html };
}

/** The SMTP server for messages and logs: scheme, host and port, never the credentials. */
export function redactSmtpUrl(url: string): string {
  const parsed = URL.parse(url);
  if (!parsed) return '(not a URL)';
  const port = parsed.port || (parsed.protocol === 'smtps:' ? '465' : '587');
  return `${parsed.protocol}//${parsed.hostname}:${port}`;
}

/** Options of {@link sendEmail}. */
export interface SendEmailOptions {
  /** `smtp://` (STARTTLS when offered) or `smtps://` (TLS from the start), credentials in the URL. */
  smtpUrl: string;
  from: string;
  to: readonly string[];
  message: JobEmail;
  /** Gives up (closes the connection) when this aborts. */
  signal: AbortSignal;
  /** Longest wait for the connection, the greeting and each answer. */
  timeoutMs: number;
}

/**
 * Sends one message through the SMTP server (nodemailer), on a connection of its own that is
 * closed afterwards. Resolves with the server's answer.
 *
 * @throws nodemailer's error when the server refuses or cannot be reached; its message holds the
 *   server's answer (`Message failed: 554 …`).
 */
export async function sendEmail(options: SendEmailOptions): Promise<{ response: string }> {
  options.signal.throwIfAborted();
  const transport = nodemailer.createTransport({
    url: options.smtpUrl,
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
  });
  const abort = (): void => transport.close();
  options.signal.addEventListener('abort', abort, { once: true });
  try {
    const info = await transport.sendMail({
      from: options.from,
      to: [...options.to],
      subject: options.message.subject,
      text: options.message.text,
      html: options.message.html,
    });
    return { response: String(info.response) };
  } finally {
    options.signal.removeEventListener('abort', abort);
    transport.close();
  }
}
