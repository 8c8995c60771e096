import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../../src/db/unavailable.ts';

describe('isDatabaseUnavailable', () => {
  it('tells a database that is away from a failing statement', () => {
    const away = [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('the database system is shutting down'), { code: '57P03' }),
      Object.assign(new Error('terminating connection due to administrator command'), {
        code: '57P01',
      }),
      Object.assign(new Error('connection failure'), { code: '08006' }),
      new Error('Connection terminated unexpectedly'),
      new Error('Client has encountered a connection error and is not queryable'),
    ];
    for (const error of away) expect(isDatabaseUnavailable(error), error.message).toBe(true);
    const statement = [
      Object.assign(new Error('duplicate key value'), { code: '23505' }),
      Object.assign(new Error('invalid input syntax'), { code: '22P02' }),
      new TypeError('x is not a function'),
    ];
    for (const error of statement) expect(isDatabaseUnavailable(error), error.message).toBe(false);
  });
});
