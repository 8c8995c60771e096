import type { FastifyError, FastifyInstance } from 'fastify';
import { UnauthorizedError } from '../../errors.ts';
import { isConcurrentChange, isDatabaseUnavailable } from '../../db/unavailable.ts';
import { clientErrorOf, type ClientErrorKind } from '../../jobs/db-errors.ts';
import type { Logger } from '../../logger.ts';

/** An HTTP error with the `{error, message}` body every REST route answers with. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly statusCode: number;
  readonly code: string;
  constructor(statusCode: number, code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.statusCode = statusCode;
    this.code = code;
  }
}

/** The HTTP status of each kind of client mistake; the kind is the body's `error` code. */
const STATUS: Record<ClientErrorKind, number> = {
  forbidden: 403,
  not_found: 404,
  invalid_state: 409,
  unknown_job_type: 400,
  invalid_payload: 400,
  payload_too_large: 413,
  invalid_argument: 400,
};

/**
 * The HttpError a client should see for an error that is theirs (jobdeck's, or the database's
 * translated by src/jobs/db-errors.ts), else null.
 */
export function httpErrorFrom(error: unknown): HttpError | null {
  if (error instanceof HttpError) return error;
  if (error instanceof UnauthorizedError) return new HttpError(401, 'unauthorized', error.message);
  const mistake = clientErrorOf(error);
  if (!mistake) return null;
  return new HttpError(STATUS[mistake.kind], mistake.kind, mistake.error.message, { cause: error });
}

/**
 * One error shape for every REST route: `{error, message}` with 400/401/403/404/409/413 for client
 * mistakes (including Fastify's own: bad JSON, oversized bodies, wrong content type), 503 when the
 * database is unavailable, and 500 with a logged reference, never a stack trace, for anything else.
 */
export function installErrorHandler(app: FastifyInstance, logger?: Logger): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const known = httpErrorFrom(error);
    if (known) {
      if (known.statusCode === 401) reply.header('www-authenticate', 'Bearer');
      return reply.code(known.statusCode).send({ error: known.code, message: known.message });
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code =
        status === 413
          ? 'payload_too_large'
          : status === 415
            ? 'unsupported_media_type'
            : 'bad_request';
      const message =
        status === 415
          ? `a body of type ${JSON.stringify(request.headers['content-type'] ?? '')} is not read here: send application/json`
          : error.message;
      return reply.code(status).send({ error: code, message });
    }
    const reference = request.id;
    if (isDatabaseUnavailable(error)) {
      logger?.warn(
        `${request.method} ${request.url} (${reference}): database unavailable: ${error.message}`,
      );
      return reply
        .code(503)
        .header('retry-after', '2')
        .send({
          error: 'unavailable',
          message: `the database is unavailable; nothing was changed, try again (reference ${reference})`,
        });
    }
    if (isConcurrentChange(error)) {
      // Rolled back by a concurrent change (a job moved to its history partition meanwhile, a
      // deadlock): nothing was written, and the same request again will most likely pass.
      logger?.warn(
        `${request.method} ${request.url} (${reference}): concurrent change: ${error.message}`,
      );
      return reply.code(409).send({
        error: 'concurrent_change',
        message: `the job changed while this request ran (a concurrent update); nothing was changed, try again (reference ${reference})`,
      });
    }
    logger?.error(
      `${request.method} ${request.url} failed (${reference}): ${error.stack ?? error.message}`,
    );
    return reply
      .code(500)
      .send({ error: 'internal', message: `an internal error occurred (reference ${reference})` });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: 'not_found',
      message: `no route ${request.method} ${request.url.split('?')[0]}`,
    }),
  );
}
