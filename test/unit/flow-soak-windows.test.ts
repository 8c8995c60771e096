import { describe, expect, it } from 'vitest';
import { mostAtOnce, mostInWindow } from '../../soak/flow/phases.ts';

describe('the flow soak’s counting', () => {
  it('counts the most times within any window of the period, sliding over the sorted times', () => {
    expect(mostInWindow([], 1000)).toBe(0);
    expect(mostInWindow([5], 1000)).toBe(1);
    // 50 starts 20 ms apart fill 980 ms: one window holds all 50, and a 51st at +1000 is outside.
    const paced = Array.from({ length: 51 }, (_, i) => i * 20);
    expect(mostInWindow(paced, 1000)).toBe(50);
    // Unsorted input, and a burst later on.
    expect(mostInWindow([3000, 0, 3999, 500, 3001, 3500], 1000)).toBe(4);
    // The window is half-open: a time exactly one period later is in the next window.
    expect(mostInWindow([0, 1000], 1000)).toBe(1);
  });

  it('counts the most spans open at once, an end at a start closing first', () => {
    expect(
      mostAtOnce([
        { from: 0, to: 10 },
        { from: 10, to: 20 },
        { from: 5, to: 15 },
      ]),
    ).toBe(2);
  });
});
