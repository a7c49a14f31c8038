import type { FastifyError, FastifyReply } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { GiraffeError } from '../../../errors';

/**
 * AUTOMATIC1111's error body. Its API turns every exception into
 * `{error: <exception class>, detail, body, errors: str(exception)}`, and
 * FastAPI answers a request that fails validation with 422 and `detail` as
 * a list of `{loc, msg, type}`. We fill both: `error` holds our stable
 * `GIRAFFE_ERR_*` code (or `RequestValidationError`), `detail` the message
 * (or the list, for validation), `errors` the message as text.
 */
export interface A1111ErrorBody {
  readonly error: string;
  readonly detail: string | readonly ValidationDetail[];
  readonly body: string;
  readonly errors: string;
}

interface ValidationDetail {
  readonly loc: readonly (string | number)[];
  readonly msg: string;
  readonly type: string;
}

export const a1111ErrorSchema = z
  .object({
    error: z.string().describe('`RequestValidationError`, or a `GIRAFFE_ERR_*` code (docs/errors.md).'),
    detail: z
      .union([
        z.string(),
        z.array(
          z.object({ loc: z.array(z.union([z.string(), z.number()])), msg: z.string(), type: z.string() }),
        ),
      ])
      .describe("What went wrong; for validation errors FastAPI's list of `{loc, msg, type}`."),
    body: z.string().describe('Always empty (A1111 puts the offending body here; we do not echo it).'),
    errors: z.string().describe('What went wrong, as one line of text.'),
  })
  .meta({ id: 'A1111Error', description: "AUTOMATIC1111's error body (not problem+json)." });

/** An error ready to send. */
export interface A1111ErrorResponse {
  readonly status: number;
  readonly body: A1111ErrorBody;
  readonly headers?: Readonly<Record<string, string>>;
}

export function a1111Error(
  status: number,
  error: string,
  message: string,
  headers?: Readonly<Record<string, string>>,
): A1111ErrorResponse {
  return { status, body: { error, detail: message, body: '', errors: message }, headers };
}

export function sendA1111Error(reply: FastifyReply, response: A1111ErrorResponse): FastifyReply {
  reply.code(response.status).headers(response.headers ?? {});
  if ((response.status === 429 || response.status === 503) && reply.getHeader('retry-after') === undefined)
    reply.header('retry-after', '5');
  return reply.type('application/json; charset=utf-8').send(response.body);
}

/** Validation problems as FastAPI lists them: `loc` starts with where the value was (`body`, `query`). */
function fromValidation(
  entries: readonly { instancePath: string; message?: string; keyword: string }[],
  where: string,
): A1111ErrorResponse {
  const detail = entries.map((e) => {
    const path = e.instancePath
      .split('/')
      .filter((p) => p !== '')
      .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    return { loc: [where, ...path], msg: e.message ?? 'is invalid', type: e.keyword };
  });
  const text = detail.map((d) => `${d.loc.slice(1).join('.') || where}: ${d.msg}`).join('; ');
  return { status: 422, body: { error: 'RequestValidationError', detail, body: '', errors: text } };
}

/**
 * Maps what an A1111 route throws: validation errors and bad values (422, as
 * FastAPI answers them), catalogued GiraffeErrors (their status), Fastify's
 * client errors (their 4xx) and anything else as a 500 that leaks nothing.
 */
export function a1111ErrorFor(error: FastifyError): A1111ErrorResponse {
  if (hasZodFastifySchemaValidationErrors(error))
    return fromValidation(error.validation, error.validationContext ?? 'body');
  if (error instanceof GiraffeError) {
    // FastAPI answers every bad value with 422; our 400s are the same kind of mistake.
    const status = error.status === 400 ? 422 : error.status;
    const message = error.status >= 500 ? `${error.message} (${error.code})` : error.message;
    return a1111Error(status, error.code, message);
  }
  const status = error.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const carried = (error as { headers?: unknown }).headers;
    const headers =
      typeof carried === 'object' && carried !== null
        ? Object.fromEntries(Object.entries(carried).map(([k, v]) => [k, String(v)]))
        : undefined;
    return a1111Error(status, 'HTTPException', error.message, headers);
  }
  return a1111Error(
    500,
    'GIRAFFE_ERR_INTERNAL',
    'The server failed to handle this request; it has been logged.',
  );
}

/**
 * Rewrites a problem+json body that code outside the A1111 routes sent (the
 * API-key hook, the rate limiter) into A1111's shape, keeping the status.
 */
export function a1111ErrorFromProblem(status: number, payload: string): A1111ErrorBody {
  let problem: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(payload);
    if (typeof parsed === 'object' && parsed !== null) problem = parsed as Record<string, unknown>;
  } catch {
    // Not JSON after all: keep the status.
  }
  const text = (key: string): string | undefined =>
    typeof problem[key] === 'string' ? (problem[key] as string) : undefined;
  const message = text('detail') ?? text('title') ?? `request failed with status ${status}`;
  return a1111Error(status, text('code') ?? 'HTTPException', message).body;
}
