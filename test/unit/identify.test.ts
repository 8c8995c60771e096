import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { UnauthorizedError } from '../../src/errors.ts';
import { identifyCaller, type IdentifyRequest } from '../../src/http/identify.ts';

const request = {} as FastifyRequest;
const refusal = async (identify: IdentifyRequest) => {
  const error = await identifyCaller(identify, request).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(UnauthorizedError);
  return (error as Error).message;
};

describe('identifyCaller()', () => {
  it('turns what the application returns into an identity, "never" expiring unless it says', async () => {
    const ends = new Date('2030-01-01T00:00:00Z');
    expect(
      await identifyCaller(async () => ({ userId: 'alice', orgId: 'acme', role: 'user' }), request),
    ).toEqual({
      userId: 'alice',
      orgId: 'acme',
      role: 'user',
      permissions: null,
      expiresAt: new Date(8.64e15),
    });
    const narrowed = await identifyCaller(
      () => ({
        userId: 'root',
        orgId: 'acme',
        role: 'admin',
        permissions: ['jobs.view_jobs'],
        expiresAt: ends,
      }),
      request,
    );
    expect(narrowed).toMatchObject({ permissions: ['jobs.view_jobs'], expiresAt: ends });
  });

  it('takes null or undefined as anonymous', async () => {
    expect(await identifyCaller(() => null, request)).toBeNull();
    expect(await identifyCaller(async () => undefined, request)).toBeNull();
  });

  it('refuses with the application’s message when identify throws', async () => {
    expect(
      await refusal(() => {
        throw new Error('your session expired');
      }),
    ).toBe('not signed in: your session expired');
    expect(await refusal(() => Promise.reject(new Error('')))).toBe(
      'not signed in: the application refused the request',
    );
  });

  it('names what is wrong with an identity it cannot use', async () => {
    const bad = (value: unknown) => refusal(() => value as never);
    expect(await bad({ userId: '', orgId: 'acme', role: 'user' })).toMatch(
      /userId must not be empty/,
    );
    expect(await bad({ userId: 'a\nb', orgId: 'acme', role: 'user' })).toMatch(
      /userId must not contain control characters/,
    );
    expect(await bad({ userId: 'alice', orgId: 'acme', role: 'owner' })).toMatch(
      /role must be "user" or "admin"/,
    );
    expect(await bad({ userId: 'alice', role: 'user' })).toMatch(/orgId must be a string/);
    expect(await bad({ userId: 'a', orgId: 'b', role: 'user', expiresAt: 'soon' })).toMatch(
      /expiresAt must be a Date/,
    );
  });
});
