import { describe, expect, it } from 'vitest';
import { batchPercent, toBatch } from '../../src/batches/batches.ts';
import type { BatchRow } from '../../src/db/types.ts';

const row = (counts: Partial<BatchRow>): BatchRow => ({
  id: '00000000-0000-4000-8000-000000000001',
  owner_id: null,
  org_id: null,
  total: 3,
  succeeded: 0,
  failed: 0,
  cancelled: 0,
  on_complete_type: null,
  on_complete_payload: {},
  on_complete_job_id: null,
  cancel_requested_at: null,
  created_at: new Date(0),
  updated_at: new Date(0),
  finished_at: null,
  ...counts,
});

describe('batchPercent()', () => {
  it('rounds down, so 100 means every job finished', () => {
    expect(batchPercent(0, 3)).toBe(0);
    expect(batchPercent(2, 3)).toBe(66);
    expect(batchPercent(999, 1000)).toBe(99);
    expect(batchPercent(1000, 1000)).toBe(100);
  });
});

describe('toBatch()', () => {
  it('is running until every job finished, then succeeded or completed', () => {
    expect(toBatch(row({ succeeded: 2 }))).toMatchObject({ finished: 2, status: 'running' });
    expect(toBatch(row({ succeeded: 3 }))).toMatchObject({ percent: 100, status: 'succeeded' });
    expect(toBatch(row({ succeeded: 1, failed: 1, cancelled: 1 }))).toMatchObject({
      finished: 3,
      status: 'completed',
    });
  });
});
