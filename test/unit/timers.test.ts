import { describe, expect, it } from 'vitest';
import { callAt } from '../../src/util/timers.ts';

describe('callAt()', () => {
  it('calls at a time past setTimeout’s range only then, and a past time at once', async () => {
    let far = 0;
    const cancelFar = callAt(8.64e15, () => (far += 1));
    let past = 0;
    callAt(Date.now() - 1_000, () => (past += 1));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(past).toBe(1);
    expect(far).toBe(0);
    cancelFar();
  });
});
