import type { Config } from '../config.ts';
import { PermanentJobError, WebhookTargetError } from '../errors.ts';
import { postWebhook } from './webhook-post.ts';
import { redactWebhookUrl, webhookAllowList } from './webhook-targets.ts';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signWebhook } from './webhooks.ts';

/** Options of {@link postSignedJson}. */
export interface SignedPostOptions {
  url: string;
  /** The JSON body, sent as it is and signed. */
  body: string;
  /** Headers besides content type and signature (user agent, event names…). */
  headers: Record<string, string>;
  /** The webhook secret (`loadWebhookSecret`). */
  secret: string;
  /** Timeout and internal-target allow-list (`webhookTimeoutMs`, `webhookAllowInternal`). */
  config: Pick<Config, 'webhookTimeoutMs' | 'webhookAllowInternal'>;
  /** The job's signal. */
  signal: AbortSignal;
}

/**
 * POSTs a signed JSON body (`X-Jobdeck-Signature: sha256=…` over `<timestamp>.<body>`) through
 * the webhook guard, and classifies the answer the way a delivery job needs it: a 2xx returns;
 * 408, 429, 5xx, a timeout and network errors throw an Error (retried); a refused target, a
 * redirect (not followed) and any other answer throw a PermanentJobError. Messages name the target
 * by scheme, host and port only (`redactWebhookUrl`): a URL's path and query may be secrets.
 */
export async function postSignedJson(
  options: SignedPostOptions,
): Promise<{ status: number; target: string }> {
  const { url, body, config } = options;
  const target = redactWebhookUrl(url);
  const timestamp = Math.floor(Date.now() / 1000);
  const timeout = AbortSignal.timeout(config.webhookTimeoutMs);
  let answer;
  try {
    answer = await postWebhook({
      url,
      headers: {
        'content-type': 'application/json',
        ...options.headers,
        [TIMESTAMP_HEADER]: String(timestamp),
        [SIGNATURE_HEADER]: signWebhook(options.secret, timestamp, body),
      },
      body,
      allow: webhookAllowList(config.webhookAllowInternal),
      signal: AbortSignal.any([options.signal, timeout]),
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
  if (status >= 200 && status < 300) return { status, target };
  const message = `POST ${target} answered ${status}`;
  if (status === 408 || status === 429 || status >= 500) throw new Error(message);
  if (answer.location !== null)
    throw new PermanentJobError(
      `${message} (a redirect to ${redactWebhookUrl(URL.parse(answer.location, url)?.href ?? '')}); not followed: point the webhook at the final URL`,
    );
  throw new PermanentJobError(`${message}; not retried (the receiver refused the delivery)`);
}
