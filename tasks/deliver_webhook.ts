import {
  z,
  loadConfig,
  defineTask,
  loadWebhookSecret,
  readDeliverySubject,
  postSignedJson,
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
    const { status, target } = await postSignedJson({
      url: payload.url,
      body,
      headers: {
        'user-agent': 'jobdeck-webhooks',
        'x-jobdeck-event': payload.event,
        'x-jobdeck-delivery': job.id,
      },
      secret,
      config,
      signal,
    });
    await log('info', `delivered ${payload.event} to ${target}: ${status}`);
    return { status, url: target };
  },
});
