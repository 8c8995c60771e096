import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Kysely } from 'kysely';
import type { AppDatabase } from './db.ts';

const scrypt = promisify(scryptCb) as (
  password: string,
  salt: string,
  length: number,
) => Promise<Buffer>;

/** The name of the application's own session cookie. */
export const SESSION_COOKIE = 'app_session';
const SESSION_TTL_MS = 8 * 3600_000;

/** A signed-in user of the application. */
export interface AppUser {
  id: string;
  orgId: string;
  role: 'user' | 'admin';
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16).toString('hex');
  return `${salt}:${(await scrypt(password, salt, 32)).toString('hex')}`;
}

async function passwordMatches(password: string, stored: string): Promise<boolean> {
  const [salt = '', hash = ''] = stored.split(':');
  const given = await scrypt(password, salt, 32);
  const expected = Buffer.from(hash, 'hex');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** Checks a password and opens a session; null when the user or password is wrong. */
export async function logIn(
  db: Kysely<AppDatabase>,
  userId: string,
  password: string,
): Promise<string | null> {
  const user = await db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
  if (!user || !(await passwordMatches(password, user.password_hash))) return null;
  const token = randomBytes(24).toString('base64url');
  await db
    .insertInto('sessions')
    .values({ token, user_id: user.id, expires_at: new Date(Date.now() + SESSION_TTL_MS) })
    .execute();
  return token;
}

/** The user behind a session token, or null when there is none or it expired. */
export async function userForSession(
  db: Kysely<AppDatabase>,
  token: string | undefined,
): Promise<AppUser | null> {
  if (!token) return null;
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .select(['users.id', 'users.org_id', 'users.role'])
    .where('sessions.token', '=', token)
    .where('sessions.expires_at', '>', new Date())
    .executeTakeFirst();
  return row ? { id: row.id, orgId: row.org_id, role: row.role } : null;
}
