import rateLimit from '@fastify/rate-limit';
import fp from 'fastify-plugin';
import { GiraffeError } from '../errors';
import { clientScope } from './client-scope';

/**
 * Per-key request limits (@fastify/rate-limit). Requests are counted per API
 * key owner, or per client address when the API is open, and stream
 * connections (WebSocket and SSE) in a count of their own; in distributed mode
 * the counters live in Redis so every API replica enforces one shared limit.
 * Health checks, metrics and docs are exempt. Over the limit: 429
 * problem+json with `Retry-After`.
 */
export const rateLimits = fp(
  async (app) => {
    const { config, redis } = app.giraffe;
    await app.register(rateLimit, {
      global: true,
      hook: 'onRequest',
      max: config.RATE_LIMIT_MAX,
      timeWindow: config.RATE_LIMIT_WINDOW_MS,
      // A counter must never take the API down: while Redis is away the limit is skipped, not enforced.
      ...(redis ? { redis, nameSpace: `${config.REDIS_PREFIX}:rate:`, skipOnError: true } : {}),
      // Stream connections count on their own: a page that opens streams with a job's token must not
      // spend its owner's request budget (or the other way round).
      keyGenerator: (request) =>
        request.routeOptions.config?.streamAuth ? `stream:${clientScope(request)}` : clientScope(request),
      allowList: (request) => request.routeOptions.config?.public === true,
      errorResponseBuilder: (_request, context) =>
        new GiraffeError(
          'GIRAFFE_ERR_RATE_LIMITED',
          `rate limit of ${context.max} requests per ${context.after} reached; retry after ${Math.ceil(context.ttl / 1000)} s`,
        ),
    });
  },
  { name: 'giraffe-rate-limit', dependencies: ['giraffe-auth'] },
);
