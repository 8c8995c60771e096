import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';
import { ConfigError } from '../errors.ts';

/**
 * The role the API's connections log in as (docs/security.md, "Who logs in as what"). It can do
 * nothing itself (NOINHERIT) and switches per request to jobdeck_anonymous, jobdeck_user or
 * jobdeck_admin; the claims a request sets count only in its sessions.
 */
export const API_ROLE = 'jobdeck_api';

/** The owner's connection string with the user jobdeck_api and no password. */
export function apiUserUrl(ownerConnectionString: string): string {
  const url = new URL(ownerConnectionString);
  url.username = API_ROLE;
  url.password = '';
  return url.toString();
}

/** The password of the owner's connection string (or PGPASSWORD), '' when it has none. */
export function ownerPassword(ownerConnectionString: string): string {
  return (
    decodeURIComponent(new URL(ownerConnectionString).password) || process.env['PGPASSWORD'] || ''
  );
}

/**
 * The password jobdeck gives jobdeck_api when `JOBDECK_API_DATABASE_URL` does not name a login
 * a DBA set up: derived from the owner's own password, so every jobdeck process that connects with
 * the same owner URL (any number of servers, every database of one cluster) arrives at the same
 * password without storing it anywhere; knowing it takes the owner's password, which gives more.
 * An owner URL without a password (trust or peer authentication) derives it from
 * `fallbackSecret`, a random value kept in the database (jobdeck_private.settings, owner-only).
 */
export function managedApiPassword(ownerConnectionString: string, fallbackSecret?: string): string {
  const url = new URL(ownerConnectionString);
  const ownerUser = decodeURIComponent(url.username) || process.env['PGUSER'] || '';
  const key = ownerPassword(ownerConnectionString) || fallbackSecret;
  if (!key) {
    throw new ConfigError([
      'the API logs in as role jobdeck_api: set JOBDECK_API_DATABASE_URL, or give DATABASE_URL a password (docs/security.md)',
    ]);
  }
  return createHmac('sha256', key).update(`${API_ROLE}:${ownerUser}`).digest('base64url');
}

/** The random secret migration 000009 keeps for owners that log in without a password. */
export async function readFallbackSecret(owner: pg.Pool): Promise<string | undefined> {
  const { rows } = await owner.query<{ secret: string }>(
    "select value #>> '{}' as secret from jobdeck_private.settings where name = 'api_login_secret'",
  );
  return rows[0]?.secret;
}

/**
 * A SCRAM-SHA-256 verifier of `password` (RFC 5803, as PostgreSQL stores it), so ALTER ROLE never
 * sends the password itself: it stays out of the server's statement log.
 */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** 28P01 wrong password, 28000 no login allowed (the role has NOLOGIN or no pg_hba entry). */
const LOGIN_REFUSED = new Set(['28P01', '28000']);

/**
 * Makes sure jobdeck_api can log in with the managed password: tries it, and when the server
 * refuses, sets it through the owner's connection (needs CREATEROLE or a superuser). Every
 * process derives the same password, so processes starting at once agree whoever sets it.
 */
export async function ensureApiLogin(
  owner: pg.Pool,
  apiConnectionString: string,
  password: string,
): Promise<void> {
  const probe = new pg.Client({
    ...(parseConnectionString(apiConnectionString) as pg.ClientConfig),
    password,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.end();
    return;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (!code || !LOGIN_REFUSED.has(code)) throw error;
  }
  try {
    // A role name and a verifier of [A-Za-z0-9+/=:$-] only: nothing in it needs quoting.
    await owner.query(`alter role ${API_ROLE} with login password '${scramVerifier(password)}'`);
  } catch (error) {
    if ((error as { code?: string }).code !== '42501') throw error;
    throw new ConfigError(
      [
        `JOBDECK_API_DATABASE_URL: the API logs in as role ${API_ROLE}, and jobdeck may not set its password (the database user needs CREATEROLE); set it to a URL that logs in as ${API_ROLE} with a password a DBA gave it (docs/security.md)`,
      ],
      { cause: error },
    );
  }
}
