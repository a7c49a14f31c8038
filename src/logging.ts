import pino, { type Logger } from 'pino';
import type { Config } from './config';

/**
 * Paths pino blanks in every log line: API keys and stream tokens must never
 * reach a log, whichever object carries them, nor the bytes of input images.
 */
export const redactedPaths = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'req.query.token',
  'headers.authorization',
  'authorization',
  'api_key',
  'apiKey',
  'token',
  'stream_token',
  '*.token',
  '*.stream_token',
  // Input images of edits (base64 in JSON bodies, Buffers from forms): never in a log line.
  'image',
  'mask_image',
  'mask',
  '*.image',
  '*.mask_image',
  '*.mask',
  '*.b64_json',
];

/** Query parameters that carry secrets; their values are blanked in logged URLs. */
const secretParams = /([?&](?:token|api_key|key)=)[^&#]*/gi;

/** A URL fit for a log line: secret query parameters blanked. */
export function redactUrl(url: string): string {
  return url.replace(secretParams, '$1[redacted]');
}

interface LoggableRequest {
  readonly method?: string;
  readonly url?: string;
  readonly id?: unknown;
  readonly ip?: string;
  readonly hostname?: string;
}

/** pino serializers: a request is logged as method, URL (secrets blanked), host and address — never its headers. */
export const requestSerializers = {
  req(req: LoggableRequest): Record<string, unknown> {
    return {
      method: req.method,
      url: req.url === undefined ? undefined : redactUrl(req.url),
      host: req.hostname,
      remoteAddress: req.ip,
    };
  },
};

export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, name = 'giraffe'): Logger {
  return pino({
    name,
    level: config.LOG_LEVEL,
    redact: { paths: redactedPaths, censor: '[redacted]' },
    serializers: requestSerializers,
  });
}
