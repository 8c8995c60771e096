import { describe, expect, it } from 'vitest';
import { channelName, parseJobNotification } from '../../src/live/channels.ts';
import { EventQueue } from '../../src/live/job-changes.ts';

describe('channelName()', () => {
  it('spells short ids out', () => {
    expect(channelName('job', '3f0c7c1e-2d4b-4a55-9d1e-0d8f3a0e6b11')).toBe(
      'jobdeck:job:3f0c7c1e-2d4b-4a55-9d1e-0d8f3a0e6b11',
    );
  });

  it('hashes ids that would pass the 63-byte limit, keeping names distinct', () => {
    const a = channelName('owner', 'a'.repeat(80));
    const b = channelName('owner', `${'a'.repeat(79)}b`);
    expect(Buffer.byteLength(a)).toBeLessThanOrEqual(63);
    expect(a).toMatch(/^jobdeck:owner:#[0-9a-f]{32}$/);
    expect(a).not.toBe(b);
  });

  it('counts bytes, not characters', () => {
    expect(Buffer.byteLength(channelName('org', 'é'.repeat(30)))).toBeLessThanOrEqual(63);
  });
});

describe('parseJobNotification()', () => {
  it('reads a payload and ignores garbage', () => {
    expect(parseJobNotification('{"id":"x","status":"running","progress":5}')).toEqual({
      id: 'x',
      status: 'running',
      progress: 5,
    });
    expect(parseJobNotification('not json')).toBeNull();
    expect(parseJobNotification(undefined)).toBeNull();
  });
});

describe('EventQueue', () => {
  it('hands items out in order and replaces a backlog past its limit with one overflow item', async () => {
    const queue = new EventQueue<string>(3, () => 'overflow');
    queue.push('a');
    queue.push('b');
    expect(await queue.next()).toEqual({ value: 'a', done: false });
    queue.push('c');
    queue.push('d');
    queue.push('e');
    expect(await queue.next()).toEqual({ value: 'overflow', done: false });
    queue.push('f');
    expect(await queue.next()).toEqual({ value: 'f', done: false });
  });

  it('wakes a waiting reader, and ends once on return() running its close handlers', async () => {
    const queue = new EventQueue<number>(10, () => -1);
    let closed = 0;
    queue.onClose(() => (closed += 1));
    const waiting = queue.next();
    queue.push(1);
    expect(await waiting).toEqual({ value: 1, done: false });
    const pending = queue.next();
    await queue.return();
    await queue.return();
    expect(await pending).toEqual({ value: undefined, done: true });
    queue.push(2);
    expect(await queue.next()).toEqual({ value: undefined, done: true });
    expect(closed).toBe(1);
  });
});
