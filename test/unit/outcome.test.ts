import { describe, expect, it } from 'vitest';
import { AttemptLostError, JobCancelledError, WorkerShutdownError } from '../../src/errors.ts';
import { thrownOutcome, type OutcomePolicy } from '../../src/worker/outcome.ts';
import type { AttemptState } from '../../src/worker/task-context.ts';
import { recordingLogger } from '../helpers/worker.ts';

/** An attempt whose signal aborted with `reason`, and the task then threw what it was given. */
function aborted(reason: Error): AttemptState {
  const controller = new AbortController();
  controller.abort(reason);
  return {
    controller,
    attempt: 1,
    row: { id: 'j1', rate_deferrals: 0 },
  } as unknown as AttemptState;
}

const policy = {
  type: 't',
  settings: { timeoutMs: null },
  logger: recordingLogger(),
} as unknown as OutcomePolicy;

describe('thrownOutcome() after an abort', () => {
  it('puts a lost attempt back in the queue (interrupted), never cancels its job', () => {
    const lost = new AttemptLostError();
    expect(thrownOutcome(lost, aborted(lost), policy)).toEqual({ outcome: 'interrupted' });
  });

  it('records a cancel as cancelled and a shutdown as interrupted', () => {
    const cancel = new JobCancelledError('asked');
    expect(thrownOutcome(cancel, aborted(cancel), policy)).toEqual({ outcome: 'cancelled' });
    const shutdown = new WorkerShutdownError();
    expect(thrownOutcome(shutdown, aborted(shutdown), policy)).toEqual({ outcome: 'interrupted' });
  });
});
