import pino, { type Logger } from 'pino';
import type { Config } from './config';

/**
 * Paths pino blanks in every log line: API keys and stream tokens must never
 * reach a log, whichever object carries them.
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
];

export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, name = 'giraffe'): Logger {
  return pino({
    name,
    level: config.LOG_LEVEL,
    redact: { paths: redactedPaths, censor: '[redacted]' },
  });
}
