import {
  ForbiddenError,
  InvalidArgumentError,
  InvalidJobStateError,
  InvalidPayloadError,
  BatchNotFoundError,
  JobNotFoundError,
  PayloadTooLargeError,
  UnknownJobTypeError,
} from '../errors.ts';
import { queryRows, runsOwnTransactions, type Executor } from '../db/executor.ts';
import { isConcurrentChange } from '../db/unavailable.ts';

/**
 * The one translation of database errors into jobdeck's errors. The SQL functions raise jobdeck's
 * own SQLSTATEs on purpose (README, "From SQL and triggers"; the `Errors:` line of each function's
 * comment in sql/api/): JD001 unknown type, JD002 invalid payload, JD003 payload too large, JD004
 * bad option, JD010 not found, JD011 wrong state. PostgreSQL's own classes 22 (a value that does
 * not fit: a bad cast, an out-of-range date) and 23 (a CHECK, key or not-null constraint) are the
 * caller's input too, and 42501 is a permission the caller lacks or a row-level security refusal.
 * The library throws the translated error; REST and GraphQL render it in their own shapes
 * (src/http/rest/errors.ts, src/graphql/errors.ts), the CLI prints its message.
 */

/** What the failed statement was about, for the translated error's data. */
export interface DatabaseErrorContext {
  /** The job type being enqueued. */
  type?: string;
  /** The job acted on; its not-found message then names it as the caller wrote it. */
  jobId?: string;
  /**
   * Append the database's HINT to the message. For an unknown type it lists the registered task
   * types: fine for the library's trusted callers, not shown to API clients.
   */
  hint?: boolean;
}

/** Errors {@link translateDatabaseError} returns: each one a mistake the caller can fix. */
export type TranslatedError =
  | UnknownJobTypeError
  | InvalidPayloadError
  | PayloadTooLargeError
  | InvalidArgumentError
  | JobNotFoundError
  | InvalidJobStateError
  | ForbiddenError;

interface DatabaseError {
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** The SQLSTATE of an error PostgreSQL raised, or null for any other error. */
export function sqlstateOf(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : null;
}

/** `detail` carries JSON on JD002 (the failing fields) and JD011 (the job's status). */
function detailJson(error: DatabaseError): unknown {
  try {
    return error.detail ? JSON.parse(error.detail) : null;
  } catch {
    return null;
  }
}

/**
 * jobdeck's error for a database error the caller can fix, keeping the database error as `cause`
 * and its message; null for anything else (a lost connection, a deadlock, a bug), which callers
 * rethrow as it is.
 */
/**
 * Runs one statement of jobdeck's SQL API and returns its rows, a refusal turned into jobdeck's
 * error (translateDatabaseError) and anything else rethrown as it is.
 */
export async function callSql<T>(
  executor: Executor,
  text: string,
  values: unknown[],
  context: DatabaseErrorContext = {},
): Promise<T[]> {
  let conflict: unknown = null;
  for (let tries = 1; ; tries++) {
    try {
      return await queryRows<T>(executor, text, values);
    } catch (caught) {
      // Rolled back by what ran beside it (isConcurrentChange): sent again, twice at most, where
      // the statement is its own transaction. A Kysely instance can be bound to one transaction
      // without saying so (isTransaction false); there the second try is refused at once as in
      // a failed transaction (25P02), nothing runs, and the caller gets the first error.
      const error = conflict !== null && sqlstateOf(caught) === '25P02' ? conflict : caught;
      if (
        error === caught &&
        tries < 3 &&
        isConcurrentChange(error) &&
        runsOwnTransactions(executor)
      ) {
        conflict = error;
        continue;
      }
      throw translateDatabaseError(error, context) ?? error;
    }
  }
}

export function translateDatabaseError(
  error: unknown,
  context: DatabaseErrorContext = {},
): TranslatedError | null {
  const sqlstate = sqlstateOf(error);
  if (sqlstate === null) return null;
  const e = error as DatabaseError;
  const cause = { cause: error };
  const type = context.type ?? '';
  switch (sqlstate) {
    case 'JD001':
      return new UnknownJobTypeError(
        type,
        context.hint && e.hint ? `${e.message} (${e.hint})` : e.message,
        cause,
      );
    case 'JD002': {
      const problems = detailJson(e);
      const translated = new InvalidPayloadError(
        type,
        Array.isArray(problems) ? problems.map(String) : [e.message],
        cause,
      );
      translated.message = e.message;
      return translated;
    }
    case 'JD003':
      return new PayloadTooLargeError({ type }, e.message, cause);
    case 'JD010': {
      const translated = new JobNotFoundError(context.jobId ?? '', cause);
      if (context.jobId === undefined) translated.message = e.message;
      return translated;
    }
    case 'JD011': {
      const status = (detailJson(e) as { status?: unknown } | null)?.status;
      return new InvalidJobStateError(
        { jobId: context.jobId ?? '', status: typeof status === 'string' ? status : 'unknown' },
        e.message,
        cause,
      );
    }
    case '42501':
      return new ForbiddenError(e.message, cause);
  }
  if (sqlstate === 'JD004' || sqlstate.startsWith('22') || sqlstate.startsWith('23'))
    return new InvalidArgumentError(e.message, cause);
  return null;
}

/** Each kind of mistake a caller can fix, named as REST's error codes name them. */
export type ClientErrorKind =
  | 'forbidden'
  | 'not_found'
  | 'invalid_state'
  | 'unknown_job_type'
  | 'invalid_payload'
  | 'payload_too_large'
  | 'invalid_argument';

const KINDS: [new (...args: never[]) => Error, ClientErrorKind][] = [
  [ForbiddenError, 'forbidden'],
  [JobNotFoundError, 'not_found'],
  [BatchNotFoundError, 'not_found'],
  [InvalidJobStateError, 'invalid_state'],
  [UnknownJobTypeError, 'unknown_job_type'],
  [InvalidPayloadError, 'invalid_payload'],
  [PayloadTooLargeError, 'payload_too_large'],
  [InvalidArgumentError, 'invalid_argument'],
];

/**
 * The caller's mistake in `error`, whether jobdeck threw it or the database raised it (then
 * translated as above), with its kind: what REST and GraphQL render, each in its own shape. Null
 * for anything else (a lost connection, a bug), which they must not show as the caller's fault.
 */
export function clientErrorOf(error: unknown): { kind: ClientErrorKind; error: Error } | null {
  const known = translateDatabaseError(error) ?? error;
  const kind = KINDS.find(([type]) => known instanceof type)?.[1];
  return kind ? { kind, error: known as Error } : null;
}
