import { describe, expect, it } from 'vitest';
import { parseMachineCpu, postgresIsLocal } from '../../bench/cpu.ts';

describe('postgresIsLocal()', () => {
  it('counts the embedded server and loopback addresses as local', () => {
    expect(postgresIsLocal(null)).toBe(true);
    expect(postgresIsLocal('postgres://u@localhost/db')).toBe(true);
    expect(postgresIsLocal('postgres://u@127.0.0.1:5432/db')).toBe(true);
    expect(postgresIsLocal('postgres://u@[::1]:5432/db')).toBe(true);
    expect(postgresIsLocal('postgres:///db?host=/var/run/postgresql')).toBe(true);
  });

  it('does not read CPU time for a server elsewhere, or a URL it cannot parse', () => {
    expect(postgresIsLocal('postgres://u@db.internal:5432/db')).toBe(false);
    expect(postgresIsLocal('not a url')).toBe(false);
  });
});

describe('parseMachineCpu() (bench)', () => {
  it("reads user + nice and system + irq + softirq from /proc/stat's cpu line, in seconds", () => {
    const text = [
      'cpu  10000 500 3000 90000 200 100 400 0 0 0',
      'cpu0 5000 250 1500 45000 100 50 200 0 0 0',
      'intr 123',
    ].join('\n');
    expect(parseMachineCpu(text)).toEqual({ user: 105, system: 35 });
  });

  it('gives null for text without a cpu line', () => {
    expect(parseMachineCpu('intr 1\nctxt 2\n')).toBeNull();
    expect(parseMachineCpu('cpu  x y z')).toBeNull();
  });
});
