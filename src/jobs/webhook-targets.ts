import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ConfigError, InvalidArgumentError, WebhookTargetError } from '../errors.ts';
import {
  allowsAddress,
  allowsHost,
  isLocalhostName,
  nonPublicRange,
  parseAllowList,
  type AllowList,
} from '../util/addresses.ts';

/**
 * Where a webhook may be sent. A job's webhook URL is chosen by whoever enqueues it, and the
 * delivery runs inside the worker's network: without a guard, a URL naming 127.0.0.1, a cloud
 * metadata address or an internal service turns jobdeck into a signed-request proxy into that
 * network (SSRF). So a delivery resolves the host, refuses it when any address is not public
 * (loopback, private, link-local, unique-local, CGNAT, multicast, unspecified, reserved, and
 * IPv4-mapped or -embedding IPv6 forms of those) unless JOBDECK_WEBHOOK_ALLOW_INTERNAL allows it,
 * and connects only to the addresses it checked. Enqueue refuses what is internal on its face (an
 * IP literal, `localhost`) without waiting for DNS.
 */

/**
 * A URL for logs and error messages: scheme, host and port only. Credentials and query strings
 * carry secrets, and so do paths (`hooks.slack.com/services/T…/B…/<token>`); the job id says
 * which delivery it was.
 */
export function redactWebhookUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.pathname === '/' && !parsed.search && !parsed.username && !parsed.password
      ? parsed.origin
      : `${parsed.origin}/…`;
  } catch {
    return '(not a URL)';
  }
}

/**
 * The allow-list of a configuration's `webhookAllowInternal` entries.
 *
 * @throws ConfigError naming the bad entry.
 */
export function webhookAllowList(entries: readonly string[]): AllowList {
  const parsed = parseAllowList(entries);
  if (parsed.problem !== undefined)
    throw new ConfigError([`JOBDECK_WEBHOOK_ALLOW_INTERNAL: ${parsed.problem}`]);
  return parsed.list;
}

const ALLOW_HINT = 'add it to JOBDECK_WEBHOOK_ALLOW_INTERNAL to allow it';

/** The URL's host without IPv6 brackets; the URL parser has already turned 0x7f000001 into 127.0.0.1. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

function parseHttpUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new WebhookTargetError({ target: '(not a URL)' }, 'the webhook URL is not a valid URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new WebhookTargetError(
      { target: redactWebhookUrl(url) },
      `the webhook URL must be http(s), got ${parsed.protocol}`,
    );
  return parsed;
}

/**
 * The checks that need no DNS, for enqueue: an http(s) URL whose host is not an internal IP
 * literal (in any spelling the URL parser accepts: `0x7f000001`, `2130706433`, `[::ffff:7f00:1]`)
 * nor `localhost`, unless allowed. A name that resolves to an internal address passes here and is
 * refused at delivery.
 *
 * @throws InvalidArgumentError saying which host is refused and why.
 */
export function checkWebhookUrl(url: string, allow: AllowList): void {
  try {
    const parsed = parseHttpUrl(url);
    const host = hostOf(parsed);
    if (allowsHost(allow, host)) return;
    if (isLocalhostName(host))
      throw new WebhookTargetError(
        { target: redactWebhookUrl(url) },
        `webhook host ${host} is this machine; ${ALLOW_HINT}`,
      );
    if (isIP(host) !== 0) refuseAddress(redactWebhookUrl(url), host, host, allow);
  } catch (error) {
    if (error instanceof WebhookTargetError)
      throw new InvalidArgumentError(`webhookUrl refused: ${error.message}`, { cause: error });
    throw error;
  }
}

function refuseAddress(target: string, host: string, address: string, allow: AllowList): void {
  if (allowsAddress(allow, address)) return;
  const range = nonPublicRange(address);
  if (range === null) return;
  const what =
    host === address
      ? `webhook address ${address}`
      : `webhook host ${host} resolves to ${address}, which`;
  throw new WebhookTargetError({ target }, `${what} is not public (${range}); ${ALLOW_HINT}`);
}

/** One resolved address of a webhook target. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all its addresses (node:dns `lookup`, as connections do). */
export type WebhookLookup = (host: string) => Promise<ResolvedAddress[]>;

const systemLookup: WebhookLookup = async (host) => {
  const found = await dnsLookup(host, { all: true, verbatim: true });
  return found.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
};

/**
 * Resolves a webhook URL's host and checks every address it resolves to: the delivery then
 * connects to these addresses only, so a name that resolves differently a moment later (DNS
 * rebinding) cannot slip an internal address in. A host name on the allow-list is trusted
 * whatever it resolves to.
 *
 * @throws WebhookTargetError when any address is refused (a policy decision: not worth a retry).
 * @throws Error from DNS when the name does not resolve (worth a retry).
 */
export async function resolveWebhookTarget(
  url: string,
  allow: AllowList,
  lookup: WebhookLookup = systemLookup,
): Promise<{ url: URL; addresses: ResolvedAddress[] }> {
  const parsed = parseHttpUrl(url);
  const host = hostOf(parsed);
  const target = redactWebhookUrl(url);
  const literal = isIP(host);
  const addresses: ResolvedAddress[] =
    literal !== 0 ? [{ address: host, family: literal === 6 ? 6 : 4 }] : await lookup(host);
  if (addresses.length === 0) throw new Error(`webhook host ${host} resolves to no address`);
  if (!allowsHost(allow, host))
    for (const { address } of addresses) refuseAddress(target, host, address, allow);
  return { url: parsed, addresses };
}
