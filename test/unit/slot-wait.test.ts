import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/db/types.ts';
import { slotWaitMs } from '../../src/worker/wrap-task.ts';

const at = (ms: number) => new Date(Date.UTC(2026, 11, 6, 12, 0, 0, ms));
const begun = (marked: boolean, startedMs: number | null, updatedMs: number) => ({
  marked,
  row: { started_at: startedMs === null ? null : at(startedMs), updated_at: at(updatedMs) } as Job,
});

describe('slotWaitMs()', () => {
  it('waits until the slot a rate limit admitted the job ahead to', () => {
    expect(slotWaitMs(begun(true, 180, 0))).toBe(180);
  });

  it('never waits more than the lead, nor for a slot already passed', () => {
    expect(slotWaitMs(begun(true, 5_000, 0))).toBe(250);
    expect(slotWaitMs(begun(true, 0, 40))).toBe(0);
    expect(slotWaitMs(begun(true, null, 0))).toBe(0);
  });

  it('does not wait on the fast path, whose started_at is the worker’s own clock', () => {
    expect(slotWaitMs(begun(false, 180, 0))).toBe(0);
  });
});
