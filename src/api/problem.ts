import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { GiraffeError, errorCatalogue, type ErrorCode } from '../errors';

/** An RFC 9457 problem body: what every error response carries. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: string;
  /** Field-level problems of a validation error. */
  readonly errors?: readonly { readonly path: string; readonly message: string }[];
  readonly [key: string]: unknown;
}

export const problemType = (code: string): string => `urn:giraffe:error:${code}`;

export function problemFor(code: ErrorCode, detail: string, extra: Record<string, unknown> = {}): Problem {
  const spec = errorCatalogue[code];
  return { type: problemType(code), title: spec.title, status: spec.status, detail, code, ...extra };
}

export function sendProblem(
  reply: FastifyReply,
  problem: Problem,
  headers: Record<string, string> = {},
): FastifyReply {
  return reply.code(problem.status).headers(headers).type('application/problem+json').send(problem);
}

/** Fastify's own client errors, each mapped to a catalogue code. */
const fastifyCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'GIRAFFE_ERR_REQUEST_MALFORMED',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'GIRAFFE_ERR_REQUEST_MALFORMED',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'GIRAFFE_ERR_REQUEST_MALFORMED',
  FST_ERR_CTP_BODY_TOO_LARGE: 'GIRAFFE_ERR_REQUEST_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'GIRAFFE_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'GIRAFFE_ERR_UNSUPPORTED_MEDIA_TYPE',
};

/**
 * Fastify's `frameworkErrors` option. The router rejects some requests before
 * any hook or error handler runs — a path with a malformed %-escape
 * (`/v1/jobs/%E0%A4`), a path parameter over `maxParamLength` (100) — and
 * answers them with its own plain JSON unless this option is set. Pass it to
 * `Fastify({ frameworkErrors: problemFrameworkErrors })` so those are
 * problem+json like every other error.
 */
export function problemFrameworkErrors(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const path = request.url.split('?')[0].slice(0, 200);
  if (error.code === 'FST_ERR_BAD_URL') {
    return sendProblem(
      reply,
      problemFor('GIRAFFE_ERR_REQUEST_INVALID', `${path}: the path holds a malformed %-escape`),
    );
  }
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return sendProblem(
      reply,
      problemFor('GIRAFFE_ERR_REQUEST_INVALID', `${path}: a path parameter is longer than 100 characters`),
    );
  }
  request.log.error({ err: error }, 'router failed');
  return sendProblem(
    reply,
    problemFor('GIRAFFE_ERR_INTERNAL', 'the server failed to handle this request; it has been logged'),
  );
}

/**
 * Turns every error into `application/problem+json`: validation errors with
 * their field paths, catalogued GiraffeErrors with their status, Fastify's
 * parser errors as 4xx, and anything unexpected as a 500 whose detail leaks
 * nothing.
 */
export const problemHandlers = fp(
  async (app) => {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      if (hasZodFastifySchemaValidationErrors(error)) {
        const errors = error.validation.map((v) => ({
          path:
            v.instancePath.replace(/^\//, '').replace(/\//g, '.') ||
            (v.params as { issue?: { path?: unknown[] } })?.issue?.path?.join('.') ||
            '',
          message: v.message ?? 'is invalid',
        }));
        const where = error.validationContext ?? 'body';
        const detail = errors.map((e) => `${e.path || where}: ${e.message}`).join('; ');
        return sendProblem(reply, problemFor('GIRAFFE_ERR_REQUEST_INVALID', detail, { errors }));
      }
      if (error instanceof GiraffeError) {
        // Overload and outages are expected conditions, not server faults worth an error log.
        const transient = error.status === 429 || error.status === 503;
        if (error.status >= 500 && !transient) request.log.error({ err: error }, 'request failed');
        const field =
          typeof error.details.field === 'string'
            ? { errors: [{ path: error.details.field, message: error.message }] }
            : {};
        // Tell clients when to come back (the rate limiter sets its own precise value first).
        const retryAfter: Record<string, string> = {};
        if (transient && !reply.hasHeader('retry-after')) {
          retryAfter['retry-after'] = String(
            typeof error.details.retry_after_s === 'number' ? error.details.retry_after_s : 5,
          );
        }
        return sendProblem(reply, problemFor(error.code, error.message, field), retryAfter);
      }
      const mapped = error.code ? fastifyCodes[error.code] : undefined;
      if (mapped) return sendProblem(reply, problemFor(mapped, error.message));
      if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
        return sendProblem(reply, {
          type: problemType('GIRAFFE_ERR_REQUEST_INVALID'),
          title: 'Bad request',
          status: error.statusCode,
          detail: error.message,
          code: error.code ?? 'GIRAFFE_ERR_REQUEST_INVALID',
        });
      }
      request.log.error({ err: error }, 'unexpected error');
      return sendProblem(
        reply,
        problemFor('GIRAFFE_ERR_INTERNAL', 'the server failed to handle this request; it has been logged'),
      );
    });

    app.setNotFoundHandler((request, reply) =>
      sendProblem(
        reply,
        problemFor(
          'GIRAFFE_ERR_ROUTE_NOT_FOUND',
          `${request.method} ${request.url.split('?')[0]} is not a route of this API`,
        ),
      ),
    );
  },
  { name: 'giraffe-problems' },
);
