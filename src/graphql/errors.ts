import { GraphQLError } from 'postgraphile/graphql';
import { isSafeError } from 'postgraphile/grafast';
import { defaultMaskError } from 'postgraphile/grafserv';
import { isConcurrentChange, isDatabaseUnavailable } from '../db/unavailable.ts';
import { InvalidJobStateError, UnauthorizedError } from '../errors.ts';
import { clientErrorOf, sqlstateOf, type ClientErrorKind } from '../jobs/db-errors.ts';

/** GraphQL `extensions.code` of each kind of client mistake. */
const CODE: Record<ClientErrorKind, string> = {
  forbidden: 'FORBIDDEN',
  not_found: 'NOT_FOUND',
  invalid_state: 'INVALID_STATE',
  unknown_job_type: 'BAD_USER_INPUT',
  invalid_payload: 'BAD_USER_INPUT',
  payload_too_large: 'BAD_USER_INPUT',
  invalid_argument: 'BAD_USER_INPUT',
};

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
  // jobdeck's errors and the database's, translated the one way src/jobs/db-errors.ts does
  const mistake = clientErrorOf(original);
  if (mistake) {
    const extensions: Record<string, unknown> = { code: CODE[mistake.kind] };
    const sqlstate = sqlstateOf(original);
    if (sqlstate) extensions['sqlstate'] = sqlstate;
    if (mistake.error instanceof InvalidJobStateError && mistake.error.status !== 'unknown')
      extensions['status'] = mistake.error.status;
    return keep(mistake.error.message, extensions);
  }
  // The database cannot be reached or is restarting: the client should try again, as REST's 503
  // with Retry-After says.
  if (original && isDatabaseUnavailable(original))
    return keep('the database is unavailable; try again shortly', {
      code: 'DATABASE_UNAVAILABLE',
      retryAfterSeconds: 2,
    });
  // Rolled back by a concurrent change (a job moved to its history partition meanwhile, a
  // deadlock): nothing was written, and the same request again will most likely pass.
  if (original && isConcurrentChange(original))
    return keep(
      'the job changed while this ran (a concurrent update); nothing was changed, try again',
      {
        code: 'CONCURRENT_CHANGE',
        sqlstate: sqlstateOf(original),
      },
    );
  return defaultMaskError(error);
}
