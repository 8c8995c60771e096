import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/db/types.ts';
import { MAX_RATE_DEFERRALS, RateLimitedError } from '../../src/errors.ts';
import { createLogger } from '../../src/logger.ts';
import { taskSettings } from '../../src/jobs/registry.ts';
import { thrownOutcome } from '../../src/worker/outcome.ts';
import type { DurableSteps } from '../../src/worker/steps.ts';
import type { AttemptState } from '../../src/worker/task-context.ts';

const policy = {
  type: 'call_api',
  settings: taskSettings(
    { run: () => null },
    { maxAttempts: 3, maxPayloadBytes: 1024, cancelGraceMs: 1000 },
  ),
  logger: createLogger('error', 'test'),
};

function state(rateDeferrals: number): AttemptState {
  return {
    row: { id: '00000000-0000-4000-8000-000000000000', rate_deferrals: rateDeferrals } as Job,
    attempt: 1,
    controller: new AbortController(),
    currentStep: null,
    settled: false,
    steps: {} as DurableSteps, // not used by thrownOutcome
  };
}

describe('RateLimitedError', () => {
  it('takes milliseconds or a duration string up to 24 hours, and refuses anything else', () => {
    expect(new RateLimitedError({ retryAfter: '30s' }).retryAfterMs).toBe(30_000);
    expect(new RateLimitedError({ retryAfter: 250 }).retryAfterMs).toBe(250);
    expect(new RateLimitedError({ retryAfter: '1.5m' }).retryAfterMs).toBe(90_000);
    for (const bad of [-1, '25h', 'soon', Number.NaN, null])
      expect(() => new RateLimitedError({ retryAfter: bad as number })).toThrow(
        /retryAfter must be a duration from 0 to 24 hours/,
      );
  });

  it('ends an attempt as rate_limited with its wait, spending no attempt', () => {
    expect(thrownOutcome(new RateLimitedError({ retryAfter: '2s' }), state(0), policy)).toEqual({
      outcome: 'rate_limited',
      delayMs: 2000,
    });
  });

  it('is recognised by name when it comes back from a task running in its own process', () => {
    const remote = Object.assign(new Error('429'), { name: 'RateLimitedError', retryAfterMs: 500 });
    expect(thrownOutcome(remote, state(3), policy)).toEqual({
      outcome: 'rate_limited',
      delayMs: 500,
    });
  });

  it(`counts as an ordinary retryable failure once a job was put back ${MAX_RATE_DEFERRALS} times`, () => {
    const outcome = thrownOutcome(
      new RateLimitedError({ retryAfter: '1s' }),
      state(MAX_RATE_DEFERRALS),
      policy,
    );
    expect(outcome).toMatchObject({
      outcome: 'error',
      retryable: true,
      error: { name: 'RateLimitedError', permanent: false },
    });
    expect(outcome.error?.message).toMatch(
      /rate limited 100 times: now counted as a failed attempt/,
    );
  });
});
