import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { AllowList } from '../util/addresses.ts';
import {
  resolveWebhookTarget,
  type ResolvedAddress,
  type WebhookLookup,
} from './webhook-targets.ts';

/** Options of {@link postWebhook}. */
export interface PostWebhookOptions {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Internal targets allowed despite the guard (`webhookAllowList(config.webhookAllowInternal)`). */
  allow: AllowList;
  /** Gives up (rejects) when this aborts: the job's signal and the delivery's timeout. */
  signal: AbortSignal;
  /** Resolves host names; node:dns `lookup` unless given. */
  lookup?: WebhookLookup;
}

/** The receiver's answer: its status, and where it pointed when it redirected. */
export interface WebhookAnswer {
  status: number;
  /** The `Location` header of a 3xx answer (not followed). */
  location: string | null;
}

/**
 * POSTs a webhook body to a target the guard has checked ({@link resolveWebhookTarget}),
 * connecting only to the addresses it checked: the socket's DNS lookup is answered from them, so
 * nothing resolves the name a second time. TLS still verifies the certificate against the URL's
 * host name. Redirects are not followed: a 3xx is returned as the answer, with its `Location`, so
 * a receiver cannot bounce a signed request to an internal address. Each delivery gets its own
 * connection (no keep-alive pool shared across targets).
 *
 * @throws WebhookTargetError when the target is refused; other errors for network failures.
 */
export async function postWebhook(options: PostWebhookOptions): Promise<WebhookAnswer> {
  const { url, addresses } = await resolveWebhookTarget(options.url, options.allow, options.lookup);
  options.signal.throwIfAborted();
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<WebhookAnswer>((resolve, reject) => {
    const request = client.request(
      url,
      {
        method: 'POST',
        headers: { ...options.headers, 'content-length': String(Buffer.byteLength(options.body)) },
        agent: false,
        lookup: pinnedLookup(addresses),
        signal: options.signal,
      },
      (response) => {
        const status = response.statusCode ?? 0;
        const location = status >= 300 && status < 400 ? (response.headers.location ?? null) : null;
        // The answer's body is not read: drop it rather than buffer whatever a receiver sends.
        response.destroy();
        resolve({ status, location });
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/**
 * A `lookup` for the socket that answers with the checked addresses, whatever DNS says now. Node
 * asks with `all: true` when it tries several addresses (happy eyeballs), else for one.
 */
function pinnedLookup(addresses: readonly ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
    const usable = addresses.filter((a) => wanted === 0 || a.family === wanted);
    const first = usable[0];
    if (!first) {
      const error = Object.assign(new Error(`no IPv${wanted} address was checked for this host`), {
        code: 'ENOTFOUND',
      });
      callback(error, '', 0);
      return;
    }
    if (options.all)
      callback(
        null,
        usable.map((a) => ({ address: a.address, family: a.family })),
      );
    else callback(null, first.address, first.family);
  };
}
