import type { FastifyError, FastifyReply } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { GiraffeError } from '../../errors';

/**
 * OpenAI's error envelope, which its SDKs parse into `APIError` subclasses
 * (status picks the class; `param`, `code` and `type` are copied over).
 */
export interface OpenAiErrorBody {
  readonly error: {
    readonly message: string;
    readonly type: string;
    readonly param: string | null;
    readonly code: string | null;
  };
}

/** {@link OpenAiErrorBody} as a response schema, for serialisation and the OpenAPI document. */
export const openAiErrorSchema = z
  .object({
    error: z.object({
      message: z.string().describe('What went wrong, for people.'),
      type: z.string().describe('`invalid_request_error`, `requests` (429) or `server_error`.'),
      param: z.string().nullable().describe('The request field at fault, when there is one.'),
      code: z
        .string()
        .nullable()
        .describe('OpenAI-style code (`invalid_value`, `invalid_api_key` …) or a `GIRAFFE_ERR_*` code.'),
    }),
  })
  .meta({ id: 'OpenAIError', description: "OpenAI's error envelope (not problem+json)." });

/** An error response ready to send: status, envelope and any headers it needs. */
export interface OpenAiErrorResponse {
  readonly status: number;
  readonly body: OpenAiErrorBody;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Message a required field's schema reports when the field is absent, so the
 * mapper can say "Missing required parameter" as OpenAI does (zod 4 issues
 * do not carry the input unless asked to).
 */
export const MISSING_PARAMETER = 'is required';

/** Seconds a client should wait after a 429/503 that did not say how long itself. */
const DEFAULT_RETRY_AFTER_S = '5';

/** OpenAI's `type` for a status: `invalid_request_error` for client mistakes, `server_error` for ours. */
export function openAiErrorType(status: number): string {
  if (status === 429) return 'requests';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** Builds the envelope; `type` follows the status unless given. */
export function openAiError(
  status: number,
  message: string,
  fields: { readonly param?: string | null; readonly code?: string | null; readonly type?: string } = {},
): OpenAiErrorResponse {
  return {
    status,
    body: {
      error: {
        message,
        type: fields.type ?? openAiErrorType(status),
        param: fields.param ?? null,
        code: fields.code ?? null,
      },
    },
  };
}

/** Sends an envelope as plain JSON (not problem+json: the SDK only reads `error`). */
export function sendOpenAiError(reply: FastifyReply, response: OpenAiErrorResponse): FastifyReply {
  reply.code(response.status).headers(response.headers ?? {});
  // Transient refusals tell the SDK when to retry (it honours Retry-After up to 60 s).
  if ((response.status === 429 || response.status === 503) && reply.getHeader('retry-after') === undefined)
    reply.header('retry-after', DEFAULT_RETRY_AFTER_S);
  return reply.type('application/json; charset=utf-8').send(response.body);
}

/** Job fields whose OpenAI name differs: the SDK user wrote `n` and `size`, not what we turned them into. */
const paramNames: Readonly<Record<string, string>> = {
  num_images: 'n',
  width: 'size',
  height: 'size',
  // Edits: giraffe's mask field is OpenAI's `mask`.
  mask_image: 'mask',
};
const openAiParam = (field: string): string => paramNames[field] ?? field;

/** Fastify's own client errors (body parsing, size, media type), with OpenAI-style codes. */
const fastifyCodes: Readonly<Record<string, string>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'request_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_TYPE: 'unsupported_media_type',
};

interface ValidationEntry {
  readonly keyword: string;
  readonly instancePath: string;
  readonly message?: string;
  readonly params: Readonly<Record<string, unknown>>;
}

/** The first zod issue as OpenAI words it, with `param` naming the field. */
function fromValidation(entry: ValidationEntry): OpenAiErrorResponse {
  const path = entry.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const message = entry.message ?? 'is invalid';
  if (entry.keyword === 'unrecognized_keys' && Array.isArray(entry.params.keys)) {
    const keys = entry.params.keys.map(String);
    const param = path ? `${path}.${keys[0]}` : keys[0];
    return openAiError(400, `Unknown parameter: '${param}'.`, { param, code: 'unknown_parameter' });
  }
  if (!path) return openAiError(400, `Invalid request body: ${message}`, { code: 'invalid_type' });
  if (message === MISSING_PARAMETER)
    return openAiError(400, `Missing required parameter: '${path}'.`, {
      param: path,
      code: 'missing_required_parameter',
    });
  return openAiError(400, `Invalid '${path}': ${message}`, {
    param: path,
    code: entry.keyword === 'invalid_type' ? 'invalid_type' : 'invalid_value',
  });
}

/** A catalogued giraffe error; an unknown model is OpenAI's 404 `model_not_found`. */
function fromGiraffeError(error: GiraffeError): OpenAiErrorResponse {
  const field = typeof error.details.field === 'string' ? openAiParam(error.details.field) : null;
  if (error.code === 'GIRAFFE_ERR_MODEL_UNKNOWN')
    return openAiError(404, error.message, { param: 'model', code: 'model_not_found' });
  if (error.code === 'GIRAFFE_ERR_AUTH_REQUIRED')
    return openAiError(401, error.message, { code: 'invalid_api_key' });
  if (error.code === 'GIRAFFE_ERR_REQUEST_MALFORMED')
    return openAiError(400, error.message, { code: 'invalid_json' });
  const message = error.status >= 500 ? `${error.message} (${error.code})` : error.message;
  return openAiError(error.status, message, { param: field, code: error.code });
}

/**
 * Maps anything a route of the OpenAI surface throws: zod validation errors
 * (400 naming the field), GiraffeErrors (their catalogued status), Fastify's
 * client errors (400/413/415, or 429 from a rate limiter) and, last, anything
 * unexpected as a 500 that leaks nothing.
 */
export function openAiErrorFor(error: FastifyError): OpenAiErrorResponse {
  if (hasZodFastifySchemaValidationErrors(error)) return fromValidation(error.validation[0]);
  if (error instanceof GiraffeError) return fromGiraffeError(error);
  // Plugins such as @fastify/rate-limit put headers (Retry-After) on the error itself.
  const carried = (error as { headers?: unknown }).headers;
  const headers =
    typeof carried === 'object' && carried !== null
      ? Object.fromEntries(Object.entries(carried).map(([k, v]) => [k, String(v)]))
      : undefined;
  const status = error.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = status === 429 ? 'rate_limit_exceeded' : (fastifyCodes[error.code] ?? null);
    return { ...openAiError(status, error.message, { code }), headers };
  }
  return openAiError(500, 'The server failed to handle this request; it has been logged.', {
    code: 'GIRAFFE_ERR_INTERNAL',
  });
}

/**
 * Rewrites a problem+json body (RFC 9457, what the rest of the API answers
 * with) into the envelope, keeping its status: for replies sent by code
 * outside this route's error handler, such as the global API-key hook.
 */
export function openAiErrorFromProblem(status: number, payload: string): OpenAiErrorBody {
  let problem: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(payload);
    if (typeof parsed === 'object' && parsed !== null) problem = parsed as Record<string, unknown>;
  } catch {
    // Not JSON after all: keep the status, say what we can.
  }
  const text = (key: string): string | undefined =>
    typeof problem[key] === 'string' ? (problem[key] as string) : undefined;
  const message = text('detail') ?? text('title') ?? `request failed with status ${status}`;
  const code = status === 401 ? 'invalid_api_key' : status === 429 ? 'rate_limit_exceeded' : text('code');
  const errors = problem.errors;
  const first = Array.isArray(errors) ? (errors[0] as { path?: unknown } | undefined) : undefined;
  const param = typeof first?.path === 'string' && first.path ? openAiParam(first.path) : null;
  return openAiError(status, message, { code, param }).body;
}
