/** One server-sent event, its data parsed. */
export interface SseEvent {
  event: string;
  data: { job?: { id: string; status: string }; progress?: number; [key: string]: unknown };
}

/** Reads an SSE stream, with a bearer token if given, into events until it ends or `close()`. */
export function openStream(url: string, token: string | null) {
  return openStreamWith(url, token ? { authorization: `Bearer ${token}` } : {});
}

/** Reads an SSE stream opened with `headers` into events until it ends or `close()` is called. */
export async function openStreamWith(url: string, headers: Record<string, string>) {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  const events: SseEvent[] = [];
  let pings = 0;
  let ended = false;
  const done = (async () => {
    if (!response.ok || !response.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          if (block.startsWith(': ping')) pings += 1;
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
      }
    } catch {
      // aborted by close()
    }
    ended = true;
  })();
  return {
    response,
    events,
    pings: () => pings,
    ended: () => ended,
    done,
    close: async () => {
      controller.abort();
      await done;
    },
  };
}
