import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.ts';
import { ConfigError } from '../errors.ts';

/**
 * The secret tokens are signed with: JOBDECK_JWT_SECRET, or outside production one generated once
 * and kept in `<dataDir>/jwt-secret` (mode 0600) so tokens survive restarts.
 */
export function loadJwtSecret(config: Config): Promise<string> {
  return loadSecret(config, config.jwtSecret, 'JOBDECK_JWT_SECRET', 'jwt-secret');
}

/**
 * The secret webhook bodies are signed with: JOBDECK_WEBHOOK_SECRET, or outside production one
 * generated once and kept in `<dataDir>/webhook-secret`.
 */
export function loadWebhookSecret(config: Config): Promise<string> {
  return loadSecret(config, config.webhookSecret, 'JOBDECK_WEBHOOK_SECRET', 'webhook-secret');
}

/**
 * A configured secret, or outside production one generated once into `<dataDir>/<file>` (mode
 * 0600) and shared by every process using that folder.
 */
export async function loadSecret(
  config: Config,
  configured: string | undefined,
  variable: string,
  file: string,
): Promise<string> {
  if (configured) return configured;
  if (config.production)
    throw new ConfigError([
      `${variable}: required when NODE_ENV=production (32+ random characters)`,
    ]);
  const where = path.join(config.dataDir, file);
  try {
    const stored = (await readFile(where, 'utf8')).trim();
    if (stored.length >= 32) return stored;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(config.dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  try {
    await writeFile(where, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  } catch (error) {
    // Another process wrote it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      return (await readFile(where, 'utf8')).trim();
    throw error;
  }
}
