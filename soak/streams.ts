import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/** What one long-lived stream saw during the soak. */
export interface StreamStats {
  name: string;
  kind: 'sse' | 'graphql';
  /** Change events received (`job` / CHANGED). */
  events: number;
  /** Reconnect notices received (`reconnected` / RECONNECTED): the client should re-read. */
  reconnects: number;
  /** Times the stream itself broke and the client had to open it again (should stay 0). */
  reopened: number;
  /** Receive times (ms since epoch) of change events and of reconnect notices. */
  eventTimes: number[];
  reconnectTimes: number[];
  /** Errors the stream reported, newest last (at most 20). */
  errors: string[];
}

export interface Stream {
  readonly stats: StreamStats;
  close(): Promise<void>;
}

function newStats(name: string, kind: StreamStats['kind']): StreamStats {
  return {
    name,
    kind,
    events: 0,
    reconnects: 0,
    reopened: 0,
    eventTimes: [],
    reconnectTimes: [],
    errors: [],
  };
}

function noteError(stats: StreamStats, error: unknown): void {
  stats.errors.push(error instanceof Error ? error.message : String(error));
  if (stats.errors.length > 20) stats.errors.shift();
}

/** Counts a change event or a reconnect notice, with its time. */
function tally(stats: StreamStats, what: 'event' | 'reconnect'): void {
  if (what === 'event') {
    stats.events += 1;
    stats.eventTimes.push(Date.now());
  } else {
    stats.reconnects += 1;
    stats.reconnectTimes.push(Date.now());
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Holds `GET /v1/jobs/events` open for the caller's jobs, counting `job` and `reconnected` events.
 * A stream that ends or fails is opened again after 1 s (what an EventSource does), and counted.
 */
export async function openSseStream(name: string, baseUrl: string, token: string): Promise<Stream> {
  const stats = newStats(name, 'sse');
  const abort = new AbortController();
  let opened!: () => void;
  const firstOpen = new Promise<void>((resolve) => (opened = resolve));
  const loop = (async () => {
    for (let first = true; !abort.signal.aborted; first = false) {
      if (!first) {
        stats.reopened += 1;
        await sleep(1000);
        if (abort.signal.aborted) return;
      }
      try {
        const response = await fetch(`${baseUrl}/v1/jobs/events`, {
          headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
          signal: abort.signal,
        });
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        opened();
        const decoder = new TextDecoder();
        let buffer = '';
        for await (const chunk of response.body) {
          buffer += decoder.decode(chunk as Uint8Array, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            if (event === 'job') tally(stats, 'event');
            else if (event === 'reconnected') tally(stats, 'reconnect');
            else if (event === 'error' || event === 'expired') {
              noteError(stats, `event: ${event} ${/^data: (.*)$/m.exec(block)?.[1] ?? ''}`);
            }
          }
        }
        if (!abort.signal.aborted) noteError(stats, 'the stream ended');
      } catch (error) {
        if (!abort.signal.aborted) noteError(stats, error);
      }
    }
  })();
  await Promise.race([firstOpen, sleep(15_000)]);
  return {
    stats,
    async close() {
      abort.abort();
      await loop;
    },
  };
}

/**
 * Holds a graphql-ws `myJobsChanged` subscription open, counting CHANGED and RECONNECTED. Selects
 * only the event's own fields, so the server does not re-read a row per event. A subscription
 * that errors or completes is subscribed again after 1 s, and counted.
 */
export async function openGraphqlSubscription(
  name: string,
  baseUrl: string,
  token: string,
): Promise<Stream> {
  const stats = newStats(name, 'graphql');
  let sockets = 0;
  let connected!: () => void;
  const firstConnect = new Promise<void>((resolve) => (connected = resolve));
  const client: Client = createClient({
    url: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 1000,
    shouldRetry: () => true,
    on: {
      connected: () => {
        connected();
        sockets += 1;
        if (sockets > 1) stats.reopened += 1;
      },
    },
  });
  let closed = false;
  let stop: (() => void) | null = null;
  const subscribe = () => {
    stop = client.subscribe<{ myJobsChanged: { kind: string; id: string | null } }>(
      { query: 'subscription { myJobsChanged { kind id status progress } }' },
      {
        next: ({ data, errors }) => {
          if (errors) noteError(stats, errors.map((e) => e.message).join('; '));
          const kind = data?.myJobsChanged.kind;
          if (kind === 'CHANGED') tally(stats, 'event');
          else if (kind === 'RECONNECTED') tally(stats, 'reconnect');
        },
        error: (error) => {
          noteError(stats, error instanceof Error ? error : JSON.stringify(error));
          again();
        },
        complete: () => {
          if (!closed) noteError(stats, 'the subscription completed');
          again();
        },
      },
    );
  };
  const again = () => {
    if (closed) return;
    stats.reopened += 1;
    setTimeout(() => {
      if (!closed) subscribe();
    }, 1000).unref();
  };
  subscribe();
  // graphql-ws does not acknowledge a subscription; the socket's connection ack is close enough
  // here, since the soak's first jobs come later.
  await Promise.race([firstConnect, sleep(15_000)]);
  return {
    stats,
    async close() {
      closed = true;
      stop?.();
      await client.dispose();
    },
  };
}
