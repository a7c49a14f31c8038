import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

/** `GET /v1/models`: the models this deployment serves, with their defaults and schedulers. */
export const modelRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/v1/models', async () => ({
    models: await app.giraffe.catalog.list(),
    default: app.giraffe.config.DEFAULT_MODEL,
  }));
};
