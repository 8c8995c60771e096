import { describe, expect, it } from 'vitest';
import { progressPatch } from '../../src/worker/task-context.ts';

describe('progressPatch()', () => {
  it('rounds a percentage', () => {
    expect(progressPatch(66.6)).toEqual({ progress: 67 });
    expect(progressPatch(0)).toEqual({ progress: 0 });
    expect(progressPatch(100)).toEqual({ progress: 100 });
  });

  it('derives the percentage from steps, rounding down so 100 % means all done', () => {
    expect(progressPatch({ completed: 2, total: 3 })).toEqual({
      progress: 66,
      completed: 2,
      total: 3,
    });
    expect(progressPatch({ completed: 3, total: 3 })).toEqual({
      progress: 100,
      completed: 3,
      total: 3,
    });
  });

  it.each([[-1], [101], [Number.NaN], [Infinity]])(
    'rejects %s with a message naming the range',
    (value) => {
      expect(() => progressPatch(value)).toThrow(/progress must be a number from 0 to 100/);
    },
  );

  it.each([
    [{ completed: 4, total: 3 }],
    [{ completed: 1, total: 0 }],
    [{ completed: 0.5, total: 2 }],
  ])('rejects impossible steps %j', (value) => {
    expect(() => progressPatch(value)).toThrow(/0 <= completed <= total/);
  });

  it('rejects something that is neither', () => {
    expect(() => progressPatch('50%' as never)).toThrow(/percentage or \{completed, total\}/);
  });
});
