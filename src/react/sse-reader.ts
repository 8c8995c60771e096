/** One server-sent event: its `event:` name (default `message`) and its `data:` text. */
export interface ServerSentEvent {
  event: string;
  data: string;
}

/**
 * Reads the server-sent events of a fetch response's body (text/event-stream), yielding each one
 * as it completes. Comments (`: ping`) are skipped but still count as traffic for `onTraffic`, so a
 * caller can tell a quiet stream from a dead one. Ends when the body ends; throws when it breaks.
 *
 * A fetch-based reader rather than `EventSource`: it sends the token in the `Authorization` header
 * (never in a URL, where logs and the Referer header keep it), and it sees the HTTP status, so a
 * 401, 403 or 404 stops the retries instead of looping on them.
 */
export async function* readServerSentEvents(
  body: ReadableStream<Uint8Array>,
  onTraffic: () => void = () => {},
): AsyncGenerator<ServerSentEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      onTraffic();
      buffer += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.search(/\r\n|\r|\n/)) !== -1) {
        const line = buffer.slice(0, newline);
        // a lone \r at the end of the buffer may be the first half of \r\n
        if (buffer[newline] === '\r' && newline === buffer.length - 1) break;
        buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
        if (line === '') {
          if (data.length > 0) yield { event: event || 'message', data: data.join('\n') };
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
