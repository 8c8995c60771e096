import { describe, expect, it } from 'vitest';
import { JobTimeoutError } from '../../src/errors.ts';
import {
  isTransientError,
  normalizeBackoff,
  parseDuration,
  resolvePriority,
} from '../../src/jobs/policy.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadTasks, taskSettings } from '../../src/jobs/registry.ts';
import { defineTask } from '../../src/jobs/task.ts';

describe('parseDuration()', () => {
  it('reads milliseconds and unit strings', () => {
    expect(parseDuration(250, 'x')).toBe(250);
    expect(parseDuration('500ms', 'x')).toBe(500);
    expect(parseDuration('1.5s', 'x')).toBe(1500);
    expect(parseDuration(' 5m ', 'x')).toBe(300_000);
    expect(parseDuration('2h', 'x')).toBe(7_200_000);
    expect(parseDuration('1d', 'x')).toBe(86_400_000);
  });

  it('names the setting when a value is not a duration', () => {
    expect(() => parseDuration('soon', 'timeout')).toThrow(/timeout: "soon" is not a duration/);
    expect(() => parseDuration(-1, 'timeout')).toThrow(/timeout: must be from 0 to 365 days/);
    expect(() => parseDuration(Number.NaN, 'timeout')).toThrow(/timeout/);
    expect(() => parseDuration({} as unknown as string, 'backoff[2]')).toThrow(/backoff\[2\]/);
  });
});

describe('normalizeBackoff()', () => {
  it("stores the seeds' list schedule as milliseconds, without jitter", () => {
    expect(normalizeBackoff(['0s', '1m', '5m', '15m', '60m'])).toEqual({
      delaysMs: [0, 60_000, 300_000, 900_000, 3_600_000],
      jitter: 0,
    });
    expect(normalizeBackoff({ delays: [1000], jitter: 0.1 })).toEqual({
      delaysMs: [1000],
      jitter: 0.1,
    });
  });

  it('fills exponential defaults and checks the numbers', () => {
    expect(normalizeBackoff({})).toEqual({
      baseMs: 2000,
      factor: 2,
      maxMs: 3_600_000,
      jitter: 0.2,
    });
    expect(normalizeBackoff({ base: '1s', factor: 3, max: '10m', jitter: 0 })).toEqual({
      baseMs: 1000,
      factor: 3,
      maxMs: 600_000,
      jitter: 0,
    });
    expect(() => normalizeBackoff([])).toThrow(/a list of 1 to 100 delays/);
    expect(() => normalizeBackoff({ factor: 0.5 })).toThrow(/factor must be a number from 1/);
    expect(() => normalizeBackoff({ jitter: 2 })).toThrow(/jitter must be a fraction/);
    expect(() => normalizeBackoff({ base: '1h', max: '1m' })).toThrow(/max .* is below/);
    expect(() => normalizeBackoff(['1m', 'later'])).toThrow(/backoff\[1\]/);
  });
});

describe('isTransientError()', () => {
  const http = (status: number) => Object.assign(new Error(`HTTP ${status}`), { status });
  const coded = (code: string) => Object.assign(new Error(`connect ${code}`), { code });

  it('retries timeouts, refused connections, rate limits and 5xx (seed 002)', () => {
    for (const error of [
      new JobTimeoutError(1000),
      Object.assign(new Error('The operation was aborted due to timeout'), {
        name: 'TimeoutError',
      }),
      coded('ECONNREFUSED'),
      coded('ETIMEDOUT'),
      coded('ECONNRESET'),
      http(429),
      http(503),
      http(500),
      Object.assign(new Error('x'), { response: { status: 502 } }),
      new Error('rate limit exceeded'),
      new Error('request timed out'),
      new Error('something odd happened'),
    ])
      expect(isTransientError(error), String(error)).toBe(true);
  });

  it('fails at once on not found, invalid, unsupported, denied and other 4xx', () => {
    for (const error of [
      http(400),
      http(401),
      http(403),
      http(404),
      Object.assign(new Error('x'), { statusCode: 422 }),
      new Error('record not found'),
      new Error('invalid date range'),
      new Error('unsupported format'),
      new Error('permission denied for table orders'),
    ])
      expect(isTransientError(error), String(error)).toBe(false);
  });
});

describe('resolvePriority()', () => {
  it('maps names onto Graphile Worker priorities (lower runs first)', () => {
    expect(['urgent', 'high', 'normal', 'low', 'HIGH'].map(resolvePriority)).toEqual([
      -20, -10, 0, 10, -10,
    ]);
    expect(resolvePriority(7)).toBe(7);
    expect(resolvePriority(undefined)).toBeUndefined();
    expect(() => resolvePriority('asap')).toThrow(/one of urgent, high, normal, low/);
  });
});

describe('taskSettings()', () => {
  const defaults = { maxAttempts: 3, maxPayloadBytes: 1024, cancelGraceMs: 5000 };

  it('checks a task policy and fills in the defaults', () => {
    const settings = taskSettings(
      defineTask({
        timeout: '30s',
        backoff: ['1m'],
        orgConcurrency: 5,
        maxConcurrent: 3,
        run: () => null,
      }),
      defaults,
    );
    expect(settings).toMatchObject({
      maxAttempts: 3,
      timeoutMs: 30_000,
      cancelGraceMs: 5000,
      orgConcurrency: 5,
      maxConcurrent: 3,
      backoff: { delaysMs: [60_000], jitter: 0 },
      isRetryable: null,
    });
  });

  it('names the field that is wrong', () => {
    const bad = (def: object) => () =>
      taskSettings({ run: () => null, ...def } as Parameters<typeof taskSettings>[0], defaults);
    expect(bad({ maxAttempts: 0 })).toThrow(/maxAttempts must be a whole number from 1/);
    expect(bad({ orgConcurrency: 1.5 })).toThrow(/orgConcurrency must be a whole number/);
    expect(bad({ maxConcurrent: 0 })).toThrow(
      'maxConcurrent must be a whole number from 1 to 100000, got 0',
    );
    expect(bad({ maxConcurrent: '3' })).toThrow(/maxConcurrent must be a whole number/);
    expect(bad({ timeout: 0 })).toThrow(/timeout must be more than 0/);
    expect(bad({ timeout: 'a while' })).toThrow(/timeout: "a while" is not a duration/);
    expect(bad({ isRetryable: true })).toThrow(/isRetryable must be a function/);
    expect(bad({ cancelGrace: '-1s' })).toThrow(/cancelGrace/);
    expect(bad({ timeout: '30d' })).toThrow(/timeout must be at most 2147483647 ms/);
    expect(bad({ cancelGrace: '30d' })).toThrow(/cancelGrace must be at most/);
  });
});

describe('loadTasks()', () => {
  it('refuses a task module with a bad policy, naming the file and the field', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'jobdeck-tasks-'));
    try {
      writeFileSync(
        path.join(dir, 'send_mail.mjs'),
        'export default { timeout: "soon", run() { return null; } };\n',
      );
      await expect(loadTasks(dir)).rejects.toThrow(
        /send_mail\.mjs: timeout: "soon" is not a duration/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
