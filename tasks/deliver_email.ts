import {
  z,
  loadConfig,
  defineTask,
  PermanentJobError,
  MAX_EMAIL_RECIPIENTS,
  readDeliverySubject,
  redactSmtpUrl,
  renderJobEmail,
  sendEmail,
} from 'jobdeck';

/** Longest wait for the SMTP server's connection, greeting and each answer. */
const SMTP_TIMEOUT_MS = 30_000;

/**
 * Mails a job's outcome to the addresses of its e-mail notification (seed 003): a plain-text and
 * an HTML part with the job's id, type, status, attempts, duration and its result summary or last
 * error message. Enqueued by the database in the transaction that finishes a job with a
 * notification (sql/notifications/tg_jobs__email.sql), so a message exists iff the outcome does.
 * Sent through JOBDECK_SMTP_URL (nodemailer) from JOBDECK_EMAIL_FROM. Any refusal or network
 * error is retried with backoff, and the server's answer is recorded in the attempt's error: an
 * SMTP 5xx is often a relay's temporary policy, and the record shows what to fix. Without
 * JOBDECK_SMTP_URL on the worker it fails at once, naming the setting. Messages name the server
 * by scheme, host and port only: the URL holds its credentials.
 */
export default defineTask({
  description: 'E-mail the outcome of a finished job (retried with backoff)',
  enqueueFromApi: false,
  maxAttempts: 6,
  // Its own limit, so a small JOBDECK_MAX_PAYLOAD_BYTES never stops a message being enqueued.
  maxPayloadBytes: 16 * 1024,
  backoff: ['30s', '2m', '10m', '30m', '1h'],
  payload: z.object({
    jobId: z.uuid(),
    to: z.array(z.string()).min(1).max(MAX_EMAIL_RECIPIENTS),
    event: z.enum(['job.succeeded', 'job.failed']),
  }),
  async run({ payload, helpers, log, signal }) {
    const config = loadConfig();
    if (config.smtpUrl === undefined)
      throw new PermanentJobError(
        'no SMTP server to send through: set JOBDECK_SMTP_URL (smtp:// or smtps://) on the worker',
      );
    const subject = await readDeliverySubject(helpers, payload.jobId);
    const server = redactSmtpUrl(config.smtpUrl);
    let response: string;
    try {
      ({ response } = await sendEmail({
        smtpUrl: config.smtpUrl,
        from: config.emailFrom,
        to: payload.to,
        message: renderJobEmail(subject),
        signal,
        timeoutMs: SMTP_TIMEOUT_MS,
      }));
    } catch (error) {
      throw new Error(`SMTP ${server} did not take the message: ${(error as Error).message}`, {
        cause: error,
      });
    }
    await log('info', `mailed ${payload.event} to ${payload.to.length} recipient(s) via ${server}`);
    return { server, recipients: payload.to.length, response };
  },
});
