import { createHmac, timingSafeEqual } from 'node:crypto';

/** Headers every delivery carries. */
export const SIGNATURE_HEADER = 'x-jobdeck-signature';
export const TIMESTAMP_HEADER = 'x-jobdeck-timestamp';

/**
 * The signature of a webhook body: `sha256=` + hex HMAC-SHA256 of `<timestamp>.<body>` under the
 * shared secret. Signing the timestamp lets receivers refuse replays of old deliveries.
 */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * What a receiver runs: true when `signature` is the body's signature under `secret` and the
 * timestamp is within `toleranceSeconds` of now.
 */
export function verifyWebhook(
  secret: string,
  headers: { signature: string | undefined; timestamp: string | undefined },
  body: string,
  toleranceSeconds = 300,
): boolean {
  const timestamp = Number(headers.timestamp);
  if (!headers.signature || !Number.isInteger(timestamp)) return false;
  if (Math.abs(Date.now() / 1000 - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const given = Buffer.from(headers.signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
