import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { JobChannels, parseJobNotification } from '../../src/live/channels.ts';
import { EventQueue } from '../../src/live/job-changes.ts';

const SECRET = Buffer.alloc(32, 7);
const JOB = '3f0c7c1e-2d4b-4a55-9d1e-0d8f3a0e6b11';

describe('JobChannels', () => {
  const channels = new JobChannels(SECRET);

  it('ends every name in a keyed hash: no id, owner or organisation shows in it', () => {
    const names = [
      channels.job(JOB),
      channels.owner('acme', 'alice'),
      channels.org('acme'),
      channels.cancel,
    ];
    expect(names.map((name) => name.replace(/[0-9a-f]{48}$/, '…'))).toEqual([
      'jobdeck:job:…',
      'jobdeck:owner:…',
      'jobdeck:org:…',
      'jobdeck:cancel:…',
    ]);
    const expected = createHash('sha256').update(SECRET).update('org:acme').digest('hex');
    expect(channels.org('acme')).toBe(`jobdeck:org:${expected.slice(0, 48)}`);
  });

  it('names nothing alike for another secret', () => {
    const other = new JobChannels(Buffer.alloc(32, 8));
    expect(other.org('acme')).not.toBe(channels.org('acme'));
    expect(other.cancel).not.toBe(channels.cancel);
  });

  it('stays within 63 bytes for long and multi-byte ids, and reads job ids in either case', () => {
    const long = 'é'.repeat(200);
    for (const name of [channels.owner(long, long), channels.org(long), channels.cancel])
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
    expect(channels.job(JOB.toUpperCase())).toBe(channels.job(JOB));
  });

  it('keeps owner channels of different (organisation, owner) pairs apart', () => {
    expect(channels.owner('a:b', 'c')).not.toBe(channels.owner('a', 'b:c'));
    expect(channels.owner('acme', 'alice')).not.toBe(channels.owner('globex', 'alice'));
  });

  it('refuses a secret too short to key anything', () => {
    expect(() => new JobChannels(Buffer.alloc(4))).toThrow(/at least 16 bytes/);
  });
});

describe('parseJobNotification()', () => {
  it('reads the job id alone, lower-cased, and ignores whatever else a payload claims', () => {
    expect(
      parseJobNotification(
        JSON.stringify({ id: JOB.toUpperCase(), status: 'failed', progress: 5 }),
      ),
    ).toEqual({ id: JOB });
  });

  it('ignores payloads that name no job', () => {
    expect(parseJobNotification('not json')).toBeNull();
    expect(parseJobNotification(undefined)).toBeNull();
    expect(parseJobNotification('null')).toBeNull();
    expect(parseJobNotification('{"id":"x"}')).toBeNull();
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
