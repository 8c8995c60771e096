import { JobTimeoutError } from '../errors.ts';

/** A duration: milliseconds, or a string like `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"`. */
export type Duration = number | string;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const MAX_DURATION_MS = 365 * 86_400_000;

/** Parses a {@link Duration}; `what` names the setting in the error. */
export function parseDuration(value: Duration, what: string): number {
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(value);
    if (!match)
      throw new TypeError(
        `${what}: "${value}" is not a duration; use milliseconds or a string like "30s", "5m", "1h"`,
      );
    ms = Number(match[1]) * UNIT_MS[match[2]!]!;
  } else {
    throw new TypeError(`${what}: expected a duration (ms or "30s"), got ${typeof value}`);
  }
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_DURATION_MS)
    throw new RangeError(`${what}: must be from 0 to 365 days, got ${String(value)}`);
  return Math.round(ms);
}

/**
 * When to run the next attempt after a failed one.
 * - a list: the delay after the 1st, 2nd, … failure; the last one repeats
 *   (`['0s', '1m', '5m', '15m', '60m']`);
 * - `{ delays, jitter }`: the same with ±jitter (a fraction, 0.1 = ±10 %);
 * - `{ base, factor, max, jitter }`: exponential, base × factor^(n-1) capped at max, ±jitter.
 *
 * The default is exponential from 2 s, doubling, capped at 1 h, ±20 %.
 */
export type Backoff =
  | readonly Duration[]
  | { delays: readonly Duration[]; jitter?: number }
  | { base?: Duration; factor?: number; max?: Duration; jitter?: number };

/** The stored form of a backoff (what `jobdeck_private.retry_delay` reads). */
export type BackoffJson =
  | { delaysMs: number[]; jitter: number }
  | { baseMs: number; factor: number; maxMs: number; jitter: number };

function checkJitter(jitter: unknown, what: string, fallback: number): number {
  if (jitter === undefined) return fallback;
  if (typeof jitter !== 'number' || !Number.isFinite(jitter) || jitter < 0 || jitter > 1)
    throw new RangeError(`${what}.jitter must be a fraction from 0 to 1, got ${String(jitter)}`);
  return jitter;
}

/** Checks a backoff and turns it into its stored form. */
export function normalizeBackoff(backoff: Backoff, what = 'backoff'): BackoffJson {
  if (Array.isArray(backoff) || (typeof backoff === 'object' && backoff && 'delays' in backoff)) {
    const delays = (Array.isArray(backoff) ? backoff : (backoff as { delays: unknown }).delays) as
      Duration[] | unknown;
    if (!Array.isArray(delays) || delays.length === 0 || delays.length > 100)
      throw new RangeError(`${what}: a list of 1 to 100 delays is needed`);
    const jitter = Array.isArray(backoff)
      ? 0
      : checkJitter((backoff as { jitter?: unknown }).jitter, what, 0);
    return {
      delaysMs: delays.map((d, i) => parseDuration(d as Duration, `${what}[${i}]`)),
      jitter,
    };
  }
  if (typeof backoff !== 'object' || backoff === null)
    throw new TypeError(`${what}: expected a list of delays or {base, factor, max, jitter}`);
  const b = backoff as { base?: Duration; factor?: unknown; max?: Duration; jitter?: unknown };
  const factor = b.factor ?? 2;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1 || factor > 100)
    throw new RangeError(`${what}.factor must be a number from 1 to 100, got ${String(factor)}`);
  const baseMs = parseDuration(b.base ?? 2000, `${what}.base`);
  const maxMs = parseDuration(b.max ?? '1h', `${what}.max`);
  if (maxMs < baseMs)
    throw new RangeError(`${what}.max (${maxMs} ms) is below ${what}.base (${baseMs} ms)`);
  return { baseMs, factor, maxMs, jitter: checkJitter(b.jitter, what, 0.2) };
}

const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);
const RETRYABLE_TEXT =
  /time(d)? ?out|connection (refused|reset)|rate limit|too many requests|temporarily unavailable|service unavailable|\b(429|502|503|504)\b/i;
const PERMANENT_TEXT =
  /not found|invalid|unsupported|permission denied|forbidden|unauthori[sz]ed|\b(400|401|403|404|410|422)\b/i;

function httpStatus(error: object): number | undefined {
  const e = error as { status?: unknown; statusCode?: unknown; response?: { status?: unknown } };
  const status = e.status ?? e.statusCode ?? e.response?.status;
  return typeof status === 'number' ? status : undefined;
}

/**
 * A ready-made `isRetryable`: transient failures retry, the rest fail at once.
 * - retryable: timeouts (including a task's own {@link JobTimeoutError}), refused or reset
 *   connections, DNS hiccups, HTTP 408/425/429 and 5xx, "rate limit", "temporarily unavailable";
 * - not retryable: HTTP 4xx otherwise (400, 401, 403, 404, 410, 422, …), "not found",
 *   "invalid", "unsupported", "permission denied";
 * - anything else: retryable.
 *
 * Use it as `defineTask({ isRetryable: isTransientError, … })`, or call it from your own.
 */
export function isTransientError(error: unknown): boolean {
  if (error instanceof JobTimeoutError) return true;
  if (typeof error !== 'object' || error === null) return true;
  const e = error as { code?: unknown; name?: unknown; message?: unknown };
  if (e.name === 'TimeoutError') return true;
  if (typeof e.code === 'string' && RETRYABLE_CODES.has(e.code)) return true;
  const status = httpStatus(error);
  if (status !== undefined) {
    if (status === 408 || status === 425 || status === 429 || status >= 500) return true;
    if (status >= 400) return false;
  }
  const message = typeof e.message === 'string' ? e.message : '';
  if (RETRYABLE_TEXT.test(message)) return true;
  if (PERMANENT_TEXT.test(message)) return false;
  return true;
}

/** Job priorities by name (lower runs first, as in Graphile Worker). */
export const Priority = { urgent: -20, high: -10, normal: 0, low: 10 } as const;
export type PriorityName = keyof typeof Priority;

/** Resolves a priority given as a number or a name. */
export function resolvePriority(priority: number | string | undefined): number | undefined {
  if (priority === undefined || typeof priority === 'number') return priority;
  const value = Priority[priority.trim().toLowerCase() as PriorityName];
  if (value === undefined)
    throw new RangeError(
      `priority must be a whole number or one of ${Object.keys(Priority).join(', ')}, got "${priority}"`,
    );
  return value;
}
