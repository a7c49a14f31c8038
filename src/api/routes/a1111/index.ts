import type { FastifyError } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { a1111ErrorFor, a1111ErrorFromProblem, a1111Error, sendA1111Error } from './a1111-errors';
import { A1111_PREFIX } from './basic-auth';
import { a1111GenerationRoutes } from './generation-routes';
import { a1111ListingRoutes } from './listings';
import { a1111OptionsRoutes } from './options';
import { MemoryA1111OptionsStore, RedisA1111OptionsStore, type A1111OptionsStore } from './options-store';
import { a1111PngInfoRoutes } from './png-info';
import { a1111ProgressRoutes } from './progress';

export { a1111BasicAuth, keyFromBasicAuth, A1111_PREFIX } from './basic-auth';

/** Options of {@link a1111Routes}. */
export interface A1111RoutesOptions {
  /** Where callers' options live. @defaultValue Redis when the API has a connection, else memory */
  readonly store?: A1111OptionsStore;
  /** How long txt2img/img2img wait for their job, in ms. @defaultValue A1111_WAIT_TIMEOUT_MS */
  readonly waitTimeoutMs?: number;
}

/**
 * AUTOMATIC1111's web API (`/sdapi/v1/*`) as a thin adapter over giraffe's
 * jobs, so A1111 clients (open-webui, SillyTavern, webuiapi, bots and editor
 * plugins) work unchanged: generation calls queue ordinary jobs and block
 * until they end; listings describe what giraffe serves; options and
 * progress are per API key. Every answer on `/sdapi/v1/*` — errors from
 * other plugins included — is in A1111's shape rather than problem+json.
 * Register {@link a1111BasicAuth} before the API-key plugin as well, so
 * Basic credentials are understood.
 */
export const a1111Routes: FastifyPluginAsyncZod<A1111RoutesOptions> = async (app, opts) => {
  const { config, redis } = app.giraffe;
  const store =
    opts.store ??
    (redis ? new RedisA1111OptionsStore(redis, config.REDIS_PREFIX) : new MemoryA1111OptionsStore());
  const waitTimeoutMs = opts.waitTimeoutMs ?? config.A1111_WAIT_TIMEOUT_MS;

  const scoped: FastifyPluginAsyncZod = async (scope) => {
    scope.setErrorHandler((error: FastifyError, request, reply) => {
      const response = a1111ErrorFor(error);
      if (response.status >= 500 && response.status !== 503 && response.status !== 504)
        request.log.error({ err: error }, 'request failed');
      return sendA1111Error(reply, response);
    });

    // The API-key check and the rate limiter answer with problem+json themselves (no error is
    // thrown here): rewrite those bodies into A1111's shape, keeping status and headers.
    scope.addHook('onSend', async (_request, reply, payload) => {
      const type = reply.getHeader('content-type');
      if (typeof type !== 'string' || !type.startsWith('application/problem+json')) return payload;
      if (typeof payload !== 'string') return payload;
      reply.type('application/json; charset=utf-8');
      // A1111 clients authenticate with Basic (the key as password); say so.
      if (reply.statusCode === 401)
        reply.header('www-authenticate', 'Basic realm="giraffe", Bearer realm="giraffe"');
      return JSON.stringify(a1111ErrorFromProblem(reply.statusCode, payload));
    });

    scope.setNotFoundHandler((request, reply) =>
      sendA1111Error(
        reply,
        a1111Error(
          404,
          'HTTPException',
          `${request.method} ${request.url.split('?')[0]}: Not Found (docs/a1111-api.md lists the A1111 routes giraffe serves)`,
        ),
      ),
    );

    await scope.register(a1111GenerationRoutes, { store, waitTimeoutMs });
    await scope.register(a1111ProgressRoutes);
    await scope.register(a1111OptionsRoutes, { store });
    await scope.register(a1111ListingRoutes);
    await scope.register(a1111PngInfoRoutes);
  };
  await app.register(scoped, { prefix: A1111_PREFIX });
};
