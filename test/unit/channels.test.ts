import { describe, expect, it } from 'vitest';
import { channelName, parseJobNotification } from '../../src/live/channels.ts';

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
