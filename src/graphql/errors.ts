import { GraphQLError } from 'postgraphile/graphql';
import { isSafeError } from 'postgraphile/grafast';
import { defaultMaskError } from 'postgraphile/grafserv';
import { isDatabaseUnavailable } from '../db/unavailable.ts';
import { UnauthorizedError } from '../errors.ts';

/** GraphQL `extensions.code` for the SQLSTATEs jobdeck's functions raise on purpose. */
function codeFor(sqlstate: string): string | null {
  if (sqlstate === 'JD010') return 'NOT_FOUND';
  if (sqlstate === 'JD011') return 'INVALID_STATE';
  if (sqlstate === '42501') return 'FORBIDDEN';
  if (/^JD00\d$/.test(sqlstate)) return 'BAD_USER_INPUT';
  // data exceptions (22xxx: bad values) and integrity violations (23xxx: checks, keys)
  if (sqlstate.startsWith('22') || sqlstate.startsWith('23')) return 'BAD_USER_INPUT';
  return null;
}

interface DatabaseErrorLike {
  code: string;
  message: string;
  detail?: string;
}

function asDatabaseError(error: unknown): DatabaseErrorLike | null {
  if (!(error instanceof Error)) return null;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)
    ? (error as unknown as DatabaseErrorLike)
    : null;
}

/**
 * What clients see of an error. Mistakes a client can fix (bad input, not found, not allowed,
 * wrong state, bad token) keep their message and get a `code`; a database that cannot be reached
 * gets `DATABASE_UNAVAILABLE`; anything else is masked with a hash and logged, so no stack trace or
 * internal detail reaches a client.
 */
export function maskError(error: GraphQLError): GraphQLError {
  const original = error.originalError;
  const keep = (message: string, extensions: Record<string, unknown>) =>
    new GraphQLError(message, {
      nodes: error.nodes,
      source: error.source,
      positions: error.positions,
      path: error.path,
      originalError: original,
      extensions,
    });
  if (original instanceof UnauthorizedError)
    return keep(original.message, { code: 'UNAUTHENTICATED' });
  // SafeErrors are written for clients (a cursor from another ordering, a refused subscription):
  // kept, with a code when they carry none, so every error a client gets names its kind.
  if (original && isSafeError(original))
    return keep(original.message, { code: 'BAD_USER_INPUT', ...(original.extensions ?? {}) });
  // The filter plugin's refusals of null or empty filter values are the client's to fix.
  if (original && /are forbidden in filter argument input/.test(original.message))
    return keep(original.message, { code: 'BAD_USER_INPUT' });
  const database = asDatabaseError(original);
  const code = database ? codeFor(database.code) : null;
  if (database && code) {
    const extensions: Record<string, unknown> = { code, sqlstate: database.code };
    if (database.code === 'JD011' && database.detail) {
      try {
        const detail = JSON.parse(database.detail) as { status?: unknown };
        if (typeof detail.status === 'string') extensions['status'] = detail.status;
      } catch {
        // not JSON: leave it out
      }
    }
    return keep(database.message, extensions);
  }
  // The database cannot be reached or is restarting: the client should try again, as REST's 503
  // with Retry-After says.
  if (original && isDatabaseUnavailable(original))
    return keep('the database is unavailable; try again shortly', {
      code: 'DATABASE_UNAVAILABLE',
      retryAfterSeconds: 2,
    });
  return defaultMaskError(error);
}
