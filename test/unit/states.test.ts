import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ACTIVE_STATUSES,
  CANCELLABLE_STATUSES,
  FINISHED_STATUSES,
  JOB_STATUSES,
  RETRYABLE_STATUSES,
  TRANSITIONS,
  canCancel,
  canRetry,
  canTransition,
  isActive,
  isFinished,
  isJobStatus,
} from '../../src/jobs/states.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The statuses a CHECK constraint of the committed schema dump lists. */
async function checkedStatuses(constraint: string): Promise<string[]> {
  const dump = await readFile(path.join(ROOT, 'migrations/schema.sql'), 'utf8');
  const line = dump.split('\n').find((l) => l.includes(`constraint ${constraint} CHECK`));
  return [...(line ?? '').matchAll(/'(\w+)'::text/g)].map((m) => m[1]!);
}

describe('job statuses', () => {
  it('are exactly those the database allows, and the finished ones those with a finish time', async () => {
    expect(await checkedStatuses('status_is_known')).toEqual([...JOB_STATUSES]);
    expect(await checkedStatuses('finished_has_time')).toEqual([...FINISHED_STATUSES]);
  });

  it('split into active and finished, each status in exactly one', () => {
    expect([...ACTIVE_STATUSES, ...FINISHED_STATUSES].sort()).toEqual([...JOB_STATUSES].sort());
    for (const status of JOB_STATUSES) {
      expect(isActive({ status }), status).toBe(!isFinished({ status }));
    }
    expect(isJobStatus('running')).toBe(true);
    expect(isJobStatus('completed')).toBe(false);
    expect(isJobStatus(undefined)).toBe(false);
  });
});

describe('TRANSITIONS', () => {
  it('names a successor list for every status, of known statuses', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...JOB_STATUSES].sort());
    for (const next of Object.values(TRANSITIONS)) {
      for (const status of next) expect(isJobStatus(status)).toBe(true);
    }
  });

  it('lets a finished job move only by a retry, back to queued (or waiting, cancelled by a dependency)', () => {
    expect(TRANSITIONS.succeeded).toEqual([]);
    expect(TRANSITIONS.failed).toEqual(['queued']);
    expect(TRANSITIONS.cancelled).toEqual(['queued', 'waiting']);
  });

  it('lets a waiting job only be queued (its dependencies succeeded) or cancelled', () => {
    expect(TRANSITIONS.waiting).toEqual(['queued', 'cancelled']);
    expect(canTransition('waiting', 'running')).toBe(false);
  });

  it('lets every unfinished job that holds a place in the queue end in each way, and only a started one run', () => {
    for (const from of ACTIVE_STATUSES.filter((status) => status !== 'waiting')) {
      for (const to of FINISHED_STATUSES)
        expect(canTransition(from, to), `${from} → ${to}`).toBe(true);
    }
    expect(canTransition('queued', 'running')).toBe(true);
    expect(canTransition('retrying', 'running')).toBe(true);
    expect(canTransition('running', 'running')).toBe(false);
    expect(canTransition('succeeded', 'queued')).toBe(false);
  });
});

describe('canCancel() and canRetry()', () => {
  it('allow cancelling exactly the unfinished jobs, and retrying the failed and cancelled ones', () => {
    expect(JOB_STATUSES.filter((status) => canCancel({ status }))).toEqual(
      JOB_STATUSES.filter((status) => (ACTIVE_STATUSES as readonly string[]).includes(status)),
    );
    expect(JOB_STATUSES.filter((status) => canRetry({ status }))).toEqual(['failed', 'cancelled']);
    expect(canCancel({ status: 'nonsense' })).toBe(false);
    expect(canRetry({ status: 'nonsense' })).toBe(false);
  });

  it('agree with the transitions a cancel and a retry make', () => {
    for (const status of CANCELLABLE_STATUSES)
      expect(canTransition(status, 'cancelled')).toBe(true);
    for (const status of RETRYABLE_STATUSES) expect(canTransition(status, 'queued')).toBe(true);
  });
});
