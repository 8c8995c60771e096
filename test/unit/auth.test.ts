import { mkdtemp, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { ConfigError, UnauthorizedError } from '../../src/errors.ts';
import { bearerToken, signToken, verifyToken } from '../../src/auth/tokens.ts';
import { loadJwtSecret } from '../../src/auth/secrets.ts';
import { pgSettingsFor } from '../../src/auth/identity.ts';

const SECRET = 'unit-test-secret-that-is-32-characters!';

describe('signToken() and verifyToken()', () => {
  it('round-trips the identity, with role user by default', async () => {
    const token = await signToken({ userId: 'alice', orgId: 'acme', ttlSeconds: 60 }, SECRET);
    const identity = await verifyToken(token, SECRET);
    expect(identity).toMatchObject({
      userId: 'alice',
      orgId: 'acme',
      role: 'user',
      permissions: null,
    });
    expect(identity.expiresAt.getTime()).toBeGreaterThan(Date.now());
  });

  it('refuses to sign a token for an empty user or a bad ttl', async () => {
    await expect(signToken({ userId: '', orgId: 'acme' }, SECRET)).rejects.toThrow(/sub/);
    await expect(signToken({ userId: 'a', orgId: 'acme', ttlSeconds: 0 }, SECRET)).rejects.toThrow(
      /ttl/,
    );
  });
});

describe('bearerToken()', () => {
  it('reads "Bearer <token>" and treats no header as anonymous', () => {
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerToken('bearer   abc ')).toBe('abc');
    expect(bearerToken(undefined)).toBeNull();
    expect(bearerToken('')).toBeNull();
  });

  it('refuses other schemes and non-strings', () => {
    expect(() => bearerToken('Basic xyz')).toThrow(UnauthorizedError);
    expect(() => bearerToken('Bearer')).toThrow(/Bearer <token>/);
    expect(() => bearerToken(42)).toThrow(/must be a string/);
  });
});

describe('pgSettingsFor()', () => {
  it('maps identities to the request roles and claims', () => {
    expect(pgSettingsFor(null)).toEqual({ role: 'jobdeck_anonymous' });
    expect(
      pgSettingsFor({
        userId: 'u',
        orgId: 'o',
        role: 'admin',
        permissions: ['jobs.view_jobs', 'jobs.cancel_jobs'],
        expiresAt: new Date(),
      }),
    ).toEqual({
      role: 'jobdeck_admin',
      'jwt.claims.sub': 'u',
      'jwt.claims.org': 'o',
      'jwt.claims.role': 'admin',
      'jwt.claims.permissions': 'jobs.view_jobs,jobs.cancel_jobs',
    });
  });
});

describe('loadJwtSecret()', () => {
  it('generates a secret once, keeps it private in the data folder, and reuses it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'jobdeck-secret-'));
    const config = loadConfig({ JOBDECK_DATA_DIR: dir });
    const first = await loadJwtSecret(config);
    expect(first.length).toBeGreaterThanOrEqual(32);
    expect(await loadJwtSecret(config)).toBe(first);
    expect((await readFile(path.join(dir, 'jwt-secret'), 'utf8')).trim()).toBe(first);
    expect((await stat(path.join(dir, 'jwt-secret'))).mode & 0o777).toBe(0o600);
  });

  it('uses JOBDECK_JWT_SECRET, and requires it in production', async () => {
    expect(await loadJwtSecret(loadConfig({ JOBDECK_JWT_SECRET: SECRET }))).toBe(SECRET);
    await expect(loadJwtSecret(loadConfig({ NODE_ENV: 'production' }))).rejects.toThrow(
      ConfigError,
    );
    expect(() => loadConfig({ JOBDECK_JWT_SECRET: 'short' })).toThrow(/at least 32 characters/);
  });
});
