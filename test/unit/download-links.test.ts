import { describe, expect, it } from 'vitest';
import { DownloadLinks, type DownloadLinkParams } from '../../src/auth/download-links.ts';
import type { Identity } from '../../src/auth/identity.ts';

const JOB = '0b7c2f0e-5d1c-4c38-9a4e-2f1a4e7b9c01';
const alice: Identity = {
  userId: 'alice',
  orgId: 'acme',
  role: 'user',
  permissions: null,
  expiresAt: new Date(0),
};
const NOW = Date.UTC(2026, 0, 1);
const links = new DownloadLinks('a-secret-that-is-at-least-32-characters', 900);

function paramsOf(url: string): { file: string; params: DownloadLinkParams } {
  const parsed = new URL(url, 'http://x');
  const q = Object.fromEntries(parsed.searchParams);
  return {
    file: parsed.pathname.split('/').pop()!,
    params: { ...q, expires: Number(q['expires']) } as unknown as DownloadLinkParams,
  };
}

describe('DownloadLinks', () => {
  it('signs an export path for a caller and verifies it as a read-only grant', () => {
    const url = links.sign('/api/v1/exports/q.csv', JOB, alice, NOW) as string;
    expect(url).toMatch(/^\/api\/v1\/exports\/q\.csv\?job=.+&expires=\d+&sig=[\w-]{43}$/);
    const { file, params } = paramsOf(url);
    expect(params.expires).toBe(NOW / 1000 + 900);
    expect(links.verify(file, params, NOW + 1000)).toEqual({
      jobId: JOB,
      identity: {
        userId: 'alice',
        orgId: 'acme',
        role: 'user',
        permissions: ['jobs.view_jobs'],
        expiresAt: new Date(NOW + 900_000),
      },
    });
  });

  it('leaves anything but an export path alone', () => {
    for (const value of [
      null,
      42,
      'https://elsewhere/x.csv',
      '/api/v1/exports/../x',
      '/api/v1/exports/a.csv?x=1',
    ])
      expect(links.sign(value, JOB, alice, NOW)).toBe(value);
  });

  it('refuses a changed field, file or key as a bad signature, and a late one as expired', () => {
    const { file, params } = paramsOf(
      links.sign('/api/v1/exports/q.csv', JOB, alice, NOW) as string,
    );
    for (const changed of [
      { ...params, user: 'bob' },
      { ...params, org: 'acme2' },
      { ...params, role: 'admin' as const },
      { ...params, expires: params.expires + 1 },
      { ...params, sig: params.sig.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) },
    ])
      expect(links.verify(file, changed, NOW)).toMatchObject({ kind: 'bad_signature' });
    expect(links.verify('r.csv', params, NOW)).toMatchObject({ kind: 'bad_signature' });
    const otherKey = new DownloadLinks('another-secret-that-is-32-characters-long', 900);
    expect(otherKey.verify(file, params, NOW)).toMatchObject({ kind: 'bad_signature' });
    expect(links.verify(file, params, NOW + 900_000)).toMatchObject({
      kind: 'expired',
      message: expect.stringContaining('2026-01-01T00:15:00.000Z'),
    });
  });
});
