import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { QueueDriver } from '../queue';
import { ApiKeys } from './api-keys';
import Redis from 'ioredis';
import websocket from '@fastify/websocket';
import { apiKeyAuth } from './auth';
import { MemoryIdempotencyStore, RedisIdempotencyStore, type IdempotencyStore } from './idempotency';
import { rateLimits } from './rate-limit';
import { StreamTokens } from './stream-tokens';
import { registerJsonBodyParser } from './json-body';
import { metricsPlugin } from './metrics';
import { ModelCatalog } from './model-catalog';
import { openApi } from './openapi';
import { problemHandlers, problemFrameworkErrors } from './problem';
import { generateRoutes } from './routes/generate';
import { healthRoutes } from './routes/health';
import { imageRoutes } from './routes/images';
import { jobRoutes } from './routes/jobs';
import { modelRoutes } from './routes/models';
import { openAiImageRoutes } from './routes/openai-images';
import { a1111BasicAuth, a1111Routes } from './routes/a1111';
import { jobStreamRoutes } from './routes/job-streams';
import { multiplexStreamRoutes } from './routes/multiplex-stream';
import { playgroundRoutes } from './routes/playground';
import { StreamConnections } from './streams/stream-connections';
import type { FeedLimits } from './streams/job-feed';
import { StreamHub } from './streams/stream-hub';
import { websocketErrorHandler } from './streams/websocket-errors';
import { unservedJobSweeper } from './unserved-job-sweeper';

export interface AppDependencies {
  readonly config: Config;
  readonly driver: QueueDriver;
  readonly logger: Logger;
  /** Models outside MODELS_DIR the API should accept by id (the built-in demo). */
  readonly extraModels?: Readonly<Record<string, string>>;
}

declare module 'fastify' {
  interface FastifyInstance {
    readonly giraffe: {
      readonly config: Config;
      readonly driver: QueueDriver;
      readonly catalog: ModelCatalog;
      readonly keys: ApiKeys;
      readonly idempotency: IdempotencyStore;
      readonly streamTokens: StreamTokens;
      /** The API's own Redis connection (rate limits, idempotency keys); undefined in embedded mode. */
      readonly redis: Redis | undefined;
      /** Progress streams: the shared job subscriptions, the open connections and every feed's limits. */
      readonly streams: {
        readonly hub: StreamHub;
        readonly connections: StreamConnections;
        readonly limits: FeedLimits;
      };
    };
  }
  interface FastifyRequest {
    /** Id of the API key that made the request; null when the API is open. */
    owner: string | null;
  }
}

/** Body size bound: a job request is a few kilobytes at most. */
const BODY_LIMIT = 64 * 1024;

/**
 * Slow clients cannot hold sockets forever (slow-loris): the headers must
 * arrive within 10 s and the whole request (headers and body) within 30 s,
 * checked every 2 s. Neither bounds the response, so `?wait=true`, SSE and
 * WebSocket streams run as long as they need; there is no idle-socket
 * timeout for the same reason. Keep-alive stays at Fastify's 72 s, longer
 * than the idle timeout of common load balancers.
 */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const TIMEOUT_CHECK_INTERVAL_MS = 2_000;

/** Builds the HTTP API (not listening). Every feature is a plugin; shared services hang off `app.giraffe`. */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT,
    requestTimeout: REQUEST_TIMEOUT_MS,
    http: { headersTimeout: HEADERS_TIMEOUT_MS, connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS },
    requestIdHeader: 'x-request-id',
    genReqId: () => crypto.randomUUID(),
    return503OnClosing: true,
    // Router-level errors (bad % escapes, over-long parameters) answer problem+json too.
    frameworkErrors: problemFrameworkErrors,
  });
  // JSON only: a text/plain body is a client mistake (415), not a string to validate.
  app.removeContentTypeParser('text/plain');
  registerJsonBodyParser(app);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  // Fail fast when Redis is away: these serve requests, which should answer 503, not hang.
  const redis = deps.config.REDIS_URL
    ? new Redis(deps.config.REDIS_URL, {
        connectTimeout: 2000,
        maxRetriesPerRequest: 1,
        enableOfflineQueue: false,
      })
    : undefined;
  redis?.on('error', (err) => deps.logger.debug({ err }, 'api redis connection error'));
  app.addHook('onClose', async () => redis?.disconnect());
  app.decorate('giraffe', {
    config: deps.config,
    driver: deps.driver,
    catalog: new ModelCatalog(deps.driver.workers, deps.config.MODELS_DIR, deps.extraModels),
    keys: new ApiKeys(deps.config.API_KEYS),
    idempotency: redis
      ? new RedisIdempotencyStore(redis, deps.config.REDIS_PREFIX)
      : new MemoryIdempotencyStore(),
    redis,
    streamTokens: new StreamTokens(deps.config.STREAM_TOKEN_SECRET, deps.config.STREAM_TOKEN_TTL_SECONDS),
    streams: {
      hub: new StreamHub(deps.driver),
      connections: new StreamConnections(deps.config.STREAM_PING_MS),
      limits: {
        previewDropBytes: deps.config.STREAM_PREVIEW_DROP_BYTES,
        closeBytes: deps.config.STREAM_CLOSE_BYTES,
        recheckMs: deps.config.STREAM_PING_MS,
      },
    },
  });
  // Stream clients are told the server is going away before it waits for connections to end.
  app.addHook('preClose', async () => app.giraffe.streams.connections.closeAll());
  app.addHook('onClose', async () => app.giraffe.streams.hub.close());
  if (deps.config.REDIS_URL && !deps.config.STREAM_TOKEN_SECRET) {
    deps.logger.warn('STREAM_TOKEN_SECRET is not set: stream tokens this API process issues work only on it');
  }
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  await app.register(problemHandlers);
  // Before auth: its onRequest hook marks upgrade requests, so a refused upgrade's socket gets closed.
  // Frames from clients are small control messages; anything larger is refused (close code 1009).
  await app.register(websocket, { options: { maxPayload: 64 * 1024 }, errorHandler: websocketErrorHandler });
  // A1111 clients send the key as a Basic password: translated for the key check, on /sdapi/v1/* only.
  if (deps.config.A1111_API) await app.register(a1111BasicAuth);
  await app.register(apiKeyAuth);
  await app.register(rateLimits);
  // Before any plugin that adds routes: the document lists the routes registered after it.
  await app.register(openApi);
  await app.register(metricsPlugin);
  await app.register(unservedJobSweeper);

  await app.register(healthRoutes);
  await app.register(modelRoutes);
  await app.register(generateRoutes);
  await app.register(jobRoutes);
  await app.register(imageRoutes);
  await app.register(openAiImageRoutes);
  if (deps.config.A1111_API) await app.register(a1111Routes);
  await app.register(jobStreamRoutes);
  await app.register(multiplexStreamRoutes);
  await app.register(playgroundRoutes);
  return app;
}
