import {
  z,
  loadConfig,
  defineTask,
  PermanentJobError,
  loadWebhookSecret,
  readDeliverySubject,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  signWebhook,
  postWebhook,
  redactWebhookUrl,
  webhookAllowList,
  WebhookTargetError,
  type WebhookAnswer,
} from 'jobdeck';

/**
 * Calls a job's webhook (seeds 003/004): POST `{event, deliveredAt, job}` as JSON, signed with
 * HMAC-SHA256 (`X-Jobdeck-Signature: sha256=…` over `<X-Jobdeck-Timestamp>.<body>`). Enqueued by
 * the database in the transaction that finishes a job with a webhook URL, so a delivery exists iff
 * the outcome does. A 2xx answer is success; 408, 429, 5xx and network errors are retried with
 * backoff; other 4xx and redirects (not followed) fail at once. A target that resolves to an
 * internal address fails at once unless JOBDECK_WEBHOOK_ALLOW_INTERNAL allows it (postWebhook).
 * Messages, logs and the result name the target by scheme, host and port only: a webhook URL's
 * credentials, path and query string may be secrets.
 */
export default defineTask({
  category: 'processing',
  description: 'Deliver a signed webhook for a finished job (retried with backoff)',
  enqueueFromApi: false,
  maxAttempts: 8,
  // Its own limit, so a small JOBDECK_MAX_PAYLOAD_BYTES never stops a delivery being enqueued.
  maxPayloadBytes: 16 * 1024,
  backoff: ['1s', '30s', '2m', '10m', '30m', '1h', '2h'],
  payload: z.object({
    jobId: z.uuid(),
    url: z.url({ protocol: /^https?$/ }),
    event: z.enum(['job.succeeded', 'job.failed']),
  }),
  async run({ payload, helpers, log, job, signal }) {
    const config = loadConfig();
    const secret = await loadWebhookSecret(config);
    const subject = await readDeliverySubject(helpers, payload.jobId);
    const body = JSON.stringify({
      event: payload.event,
      deliveryId: job.id,
      deliveredAt: new Date().toISOString(),
      job: {
        id: subject.id,
        type: subject.type,
        status: subject.status,
        progress: subject.progress,
        result: subject.result,
        errors: subject.errors,
        attempts: subject.attempts,
        ownerId: subject.owner_id,
        orgId: subject.org_id,
        createdAt: subject.created_at,
        startedAt: subject.started_at,
        finishedAt: subject.finished_at,
      },
    });
    const timestamp = Math.floor(Date.now() / 1000);
    const target = redactWebhookUrl(payload.url);
    const timeout = AbortSignal.timeout(config.webhookTimeoutMs);
    let answer: WebhookAnswer;
    try {
      answer = await postWebhook({
        url: payload.url,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'jobdeck-webhooks',
          'x-jobdeck-event': payload.event,
          'x-jobdeck-delivery': job.id,
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signWebhook(secret, timestamp, body),
        },
        body,
        allow: webhookAllowList(config.webhookAllowInternal),
        signal: AbortSignal.any([signal, timeout]),
      });
    } catch (error) {
      if (error instanceof WebhookTargetError)
        throw new PermanentJobError(`POST ${target} refused: ${error.message}`, { cause: error });
      const reason = timeout.aborted
        ? `no answer within ${config.webhookTimeoutMs} ms (JOBDECK_WEBHOOK_TIMEOUT_MS)`
        : (error as Error).message;
      throw new Error(`POST ${target} failed: ${reason}`, { cause: error });
    }
    const { status } = answer;
    if (status >= 200 && status < 300) {
      await log('info', `delivered ${payload.event} to ${target}: ${status}`);
      return { status, url: target };
    }
    const message = `POST ${target} answered ${status}`;
    if (status === 408 || status === 429 || status >= 500) throw new Error(message);
    if (answer.location !== null)
      throw new PermanentJobError(
        `${message} (a redirect to ${redactWebhookUrl(URL.parse(answer.location, payload.url)?.href ?? '')}); not followed: point the webhook at the final URL`,
      );
    throw new PermanentJobError(`${message}; not retried (the receiver refused the delivery)`);
  },
});
