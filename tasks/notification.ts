import {
  z,
  defineTask,
  loadConfig,
  loadWebhookSecret,
  postSignedJson,
  PermanentJobError,
} from 'jobdeck';

/**
 * Sends a notification (seed 004's `notification`): renders `{{name}}` placeholders of `message`
 * from `data` and POSTs `{title, message, recipients, sentAt}` as signed JSON to `url` (a chat or
 * notification service's incoming hook), with the webhook guard: internal targets are refused
 * unless JOBDECK_WEBHOOK_ALLOW_INTERNAL allows them. 2xx is sent; 408, 429, 5xx and network
 * errors are retried; other answers fail at once. A placeholder without data fails at once.
 */
export default defineTask({
  description: 'Send a rendered notification to a chat or notification hook (seed 004)',
  maxAttempts: 5,
  // Seed 004: at most 5 jobs of this type run at once per organisation, across all workers.
  // Change the number here, or remove the line for no per-type cap (docs/recipes.md).
  orgConcurrency: 5,
  backoff: ['5s', '30s', '2m', '10m'],
  payload: z.object({
    // A pattern (not z.url's protocol option) so the database's payload check enforces it too.
    url: z
      .string()
      .max(2000)
      .regex(/^https?:\/\/[^\s/?#]+[^\s]*$/, 'url must be an http(s) URL'),
    title: z.string().min(1).max(200),
    message: z.string().min(1).max(10_000),
    recipients: z.array(z.string().min(1).max(320)).max(100).default([]),
    data: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  }),
  async run({ payload, job, log, signal }) {
    const missing = new Set<string>();
    const message = payload.message.replace(/\{\{\s*([\w.-]+)\s*\}\}/g, (_, name: string) => {
      const value = payload.data[name];
      if (value === undefined) missing.add(name);
      return String(value ?? '');
    });
    if (missing.size > 0)
      throw new PermanentJobError(`the message uses ${[...missing].join(', ')}, which data lacks`);
    const config = loadConfig();
    const body = JSON.stringify({
      title: payload.title,
      message,
      recipients: payload.recipients,
      notificationId: job.id,
      sentAt: new Date().toISOString(),
    });
    const { status, target } = await postSignedJson({
      url: payload.url,
      body,
      headers: { 'user-agent': 'jobdeck-notifications' },
      secret: await loadWebhookSecret(config),
      config,
      signal,
    });
    await log('info', `notification sent to ${target} (${payload.recipients.length} recipients)`);
    return { sent: true, status, target, recipients: payload.recipients.length };
  },
});
