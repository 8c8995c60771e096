import type { Config } from '../config.ts';
import { loadJwtSecret } from '../auth/secrets.ts';
import { signToken } from '../auth/tokens.ts';
import type { CommandLine } from './command-line.ts';

/**
 * `jobdeck token --user U --org O [--role admin] [--ttl 1h] [--permissions a,b]`: prints a bearer
 * token signed with the server's secret, for development and tests.
 */
export async function runToken(
  config: Config,
  command: Extract<CommandLine, { command: 'token' }>,
): Promise<number> {
  const { user, org, role, ttlSeconds, permissions } = command;
  const token = await signToken(
    { userId: user, orgId: org, role, ttlSeconds, ...(permissions ? { permissions } : {}) },
    await loadJwtSecret(config),
  );
  if (command.json)
    process.stdout.write(
      `${JSON.stringify({ token, user, org, role, expiresAt: new Date(Date.now() + ttlSeconds * 1000) })}\n`,
    );
  else process.stdout.write(`${token}\n`);
  return 0;
}
