import type { Config } from '../config.ts';
import { PERMISSIONS, loadJwtSecret, signToken, type Permission } from '../graphql/auth.ts';
import { parseDuration } from '../jobs/policy.ts';
import { stringFlag } from './job-commands.ts';
import { UsageError } from './usage.ts';

/**
 * `jobdeck token --user U --org O [--role admin] [--ttl 1h] [--permissions a,b]`: prints a bearer
 * token signed with the server's secret, for development and tests.
 */
export async function runToken(
  config: Config,
  { values, positionals }: { values: Record<string, unknown>; positionals: string[] },
): Promise<number> {
  if (positionals.length > 0)
    throw new UsageError(`token takes no arguments, got "${positionals[0]}"`);
  const user = stringFlag(values, 'user');
  const org = stringFlag(values, 'org');
  if (!user || !org)
    throw new UsageError(
      'token needs --user and --org, e.g. jobdeck token --user alice --org acme',
    );
  const role = stringFlag(values, 'role') ?? 'user';
  if (role !== 'user' && role !== 'admin')
    throw new UsageError(`--role must be user or admin, got "${role}"`);
  let ttlMs: number;
  try {
    ttlMs = parseDuration(stringFlag(values, 'ttl') ?? '1h', '--ttl');
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (ttlMs < 1000) throw new UsageError('--ttl must be at least 1s');
  const permissionsFlag = stringFlag(values, 'permissions');
  let permissions: Permission[] | undefined;
  if (permissionsFlag !== undefined) {
    permissions = [];
    for (const name of permissionsFlag.split(',').map((p) => p.trim())) {
      if (!(PERMISSIONS as readonly string[]).includes(name))
        throw new UsageError(`--permissions: unknown "${name}"; known: ${PERMISSIONS.join(', ')}`);
      permissions.push(name as Permission);
    }
  }
  const ttlSeconds = Math.floor(ttlMs / 1000);
  const token = await signToken(
    { userId: user, orgId: org, role, ttlSeconds, ...(permissions ? { permissions } : {}) },
    await loadJwtSecret(config),
  );
  if (values['json'])
    process.stdout.write(
      `${JSON.stringify({ token, user, org, role, expiresAt: new Date(Date.now() + ttlSeconds * 1000) })}\n`,
    );
  else process.stdout.write(`${token}\n`);
  return 0;
}
