import type { FastifyError, FastifyInstance } from 'fastify';
import { UnauthorizedError } from '../../errors.ts';
import { isDatabaseUnavailable } from '../../db/unavailable.ts';
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

/** HTTP status and error code for the SQLSTATEs jobdeck's functions raise on purpose. */
const SQLSTATES: Record<string, [number, string]> = {
  JD001: [400, 'unknown_job_type'],
  JD002: [400, 'invalid_payload'],
  JD003: [413, 'payload_too_large'],
  JD004: [400, 'invalid_argument'],
  JD010: [404, 'not_found'],
  JD011: [409, 'invalid_state'],
  '42501': [403, 'forbidden'],
};

/** Turns an error from the database into the HttpError a client should see, when it is theirs. */
export function httpErrorFrom(error: unknown): HttpError | null {
  if (error instanceof HttpError) return error;
  if (error instanceof UnauthorizedError) return new HttpError(401, 'unauthorized', error.message);
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    const mapped = SQLSTATES[code] ?? (/^2[23]/.test(code) ? [400, 'invalid_argument'] : null);
    if (mapped)
      return new HttpError(mapped[0], mapped[1], (error as Error).message, { cause: error });
  }
  return null;
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
      return reply.code(status).send({ error: code, message: error.message });
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
