import { describe, expect, it } from 'vitest';
import {
  ForbiddenError,
  InvalidArgumentError,
  InvalidJobStateError,
  InvalidPayloadError,
  JobNotFoundError,
  PayloadTooLargeError,
  UnknownJobTypeError,
} from '../../src/errors.ts';
import { clientErrorOf, sqlstateOf, translateDatabaseError } from '../../src/jobs/db-errors.ts';

/** An error shaped as node-postgres gives it. */
const pgError = (code: string, message: string, extra: { detail?: string; hint?: string } = {}) =>
  Object.assign(new Error(message), { code, ...extra });

const ID = '0b6f1b8e-2f7a-4c0e-9a55-3c9b9a1f2d11';

describe('translateDatabaseError()', () => {
  it('turns each of jobdeck’s SQLSTATEs into its error class, keeping the message and the cause', () => {
    const cases: [Error, new (...args: never[]) => Error][] = [
      [pgError('JD001', 'unknown job type "nope"'), UnknownJobTypeError],
      [
        pgError('JD002', 'invalid payload for job type "t": payload.n: must be a number'),
        InvalidPayloadError,
      ],
      [pgError('JD003', 'payload of 9 bytes is over the 8 byte limit'), PayloadTooLargeError],
      [pgError('JD004', 'priority must be from -20 to 10'), InvalidArgumentError],
      [pgError('JD010', `job ${ID} not found`), JobNotFoundError],
      [pgError('JD011', `job ${ID} is succeeded and cannot be cancelled`), InvalidJobStateError],
      [pgError('42501', 'permission denied: your token lacks jobs.cancel_jobs'), ForbiddenError],
      [pgError('22P02', 'invalid input syntax for type uuid: "x"'), InvalidArgumentError],
      [pgError('23514', 'new row violates check constraint "key_length"'), InvalidArgumentError],
      [pgError('23505', 'duplicate key value violates unique constraint'), InvalidArgumentError],
    ];
    for (const [error, kind] of cases) {
      const translated = translateDatabaseError(error);
      expect(translated, error.message).toBeInstanceOf(kind);
      expect(translated!.message).toBe(error.message);
      expect(translated!.cause).toBe(error);
    }
  });

  it('carries the data the classes hold: type, failing fields, job id and status', () => {
    const payload = translateDatabaseError(
      pgError('JD002', 'invalid payload', {
        detail: '["payload.a: required","payload.b: too long"]',
      }),
      { type: 'import_file' },
    ) as InvalidPayloadError;
    expect(payload.type).toBe('import_file');
    expect(payload.problems).toEqual(['payload.a: required', 'payload.b: too long']);
    const state = translateDatabaseError(
      pgError('JD011', 'cannot be retried', { detail: '{"status":"queued"}' }),
      { jobId: ID },
    ) as InvalidJobStateError;
    expect(state).toMatchObject({ jobId: ID, status: 'queued', message: 'cannot be retried' });
    const noDetail = translateDatabaseError(pgError('JD011', 'no detail')) as InvalidJobStateError;
    expect(noDetail.status).toBe('unknown');
  });

  it('names the job as the caller wrote it when told which one, else keeps the database’s words', () => {
    const upper = ID.toUpperCase();
    const named = translateDatabaseError(pgError('JD010', `job ${ID} not found`), { jobId: upper });
    expect(named).toMatchObject({ jobId: upper, message: `job ${upper} not found` });
    const unnamed = translateDatabaseError(pgError('JD010', `job ${ID} not found`));
    expect(unnamed!.message).toBe(`job ${ID} not found`);
  });

  it('adds the hint (the registered types) only when asked', () => {
    const error = pgError('JD001', 'unknown job type "nope"', { hint: 'known types: a, b' });
    expect(translateDatabaseError(error)!.message).toBe('unknown job type "nope"');
    expect(translateDatabaseError(error, { hint: true })!.message).toBe(
      'unknown job type "nope" (known types: a, b)',
    );
  });

  it('leaves alone what is not the caller’s to fix', () => {
    for (const error of [
      pgError('57P01', 'terminating connection due to administrator command'),
      pgError('40P01', 'deadlock detected'),
      pgError('XX000', 'internal error'),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      new TypeError('x is not a function'),
      { code: 'JD010', message: 'not an Error' },
      null,
    ]) {
      expect(translateDatabaseError(error)).toBeNull();
    }
    expect(sqlstateOf(pgError('JD011', 'x'))).toBe('JD011');
    expect(sqlstateOf(new InvalidArgumentError('x'))).toBeNull();
  });
});

describe('clientErrorOf()', () => {
  it('names the kind of mistake, for jobdeck’s own errors and the database’s alike', () => {
    const kinds = [
      [new JobNotFoundError(ID), 'not_found'],
      [pgError('JD010', 'job not found'), 'not_found'],
      [new InvalidJobStateError({ jobId: ID, status: 'queued' }, 'no'), 'invalid_state'],
      [pgError('42501', 'permission denied'), 'forbidden'],
      [new UnknownJobTypeError('x'), 'unknown_job_type'],
      [new InvalidPayloadError('x', ['payload: bad']), 'invalid_payload'],
      [pgError('JD003', 'too large'), 'payload_too_large'],
      [pgError('22007', 'invalid datetime'), 'invalid_argument'],
      [new InvalidArgumentError('limit must be …'), 'invalid_argument'],
    ] as const;
    for (const [error, kind] of kinds) expect(clientErrorOf(error)?.kind, error.message).toBe(kind);
    const translated = clientErrorOf(
      pgError('JD011', 'job is succeeded', { detail: '{"status":"succeeded"}' }),
    );
    expect(translated!.error).toBeInstanceOf(InvalidJobStateError);
    expect(translated!.error.message).toBe('job is succeeded');
  });

  it('is null for what is not the caller’s mistake', () => {
    expect(clientErrorOf(pgError('40P01', 'deadlock detected'))).toBeNull();
    expect(clientErrorOf(new Error('boom'))).toBeNull();
    expect(clientErrorOf(undefined)).toBeNull();
  });
});
