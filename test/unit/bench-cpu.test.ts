import { describe, expect, it } from 'vitest';
import { postgresIsLocal } from '../../bench/cpu.ts';

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
