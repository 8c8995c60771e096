import { describe, expect, it } from 'vitest';
import { reconnectDelay } from '../../src/react/live-feed.ts';
import { readServerSentEvents } from '../../src/react/sse-reader.ts';

describe('reconnectDelay()', () => {
  it('doubles from the initial delay up to the maximum, with half of it jittered', () => {
    const options = { initialDelayMs: 100, maxDelayMs: 1_000 };
    expect([1, 2, 3, 4, 5, 10].map((n) => reconnectDelay(n, options, () => 1))).toEqual([
      100, 200, 400, 800, 1_000, 1_000,
    ]);
    expect([1, 2, 5].map((n) => reconnectDelay(n, options, () => 0))).toEqual([50, 100, 500]);
  });
});

/** A body that delivers `chunks` one by one, as a network would. */
function bodyOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

describe('readServerSentEvents()', () => {
  it('reads events split anywhere, with any line ending, skipping comments', async () => {
    let traffic = 0;
    const events = [];
    const body = bodyOf([
      'retry: 2000\n\n: ping\n\nid: 1\nevent: jo',
      'b\ndata: {"a":1}\n',
      '\r',
      '\n',
      'data: line one\r\ndata: line two\r\n\r\n',
      'event: end\ndata:{}\n\n',
      'event: no-data\n\n',
    ]);
    for await (const event of readServerSentEvents(body, () => traffic++)) events.push(event);
    expect(events).toEqual([
      { event: 'job', data: '{"a":1}' },
      { event: 'message', data: 'line one\nline two' },
      { event: 'end', data: '{}' },
    ]);
    expect(traffic).toBe(7);
  });
});
