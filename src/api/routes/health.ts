import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

/**
 * `GET /healthz`: the process is up. `GET /readyz`: the queue answers and at
 * least one worker serves the default model — a load balancer should send
 * traffic only then.
 */
export const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  const { driver, config } = app.giraffe;
  app.get('/healthz', { config: { public: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { public: true } }, async (_request, reply) => {
    const queue = await driver.ping().catch(() => false);
    const workers = queue ? await driver.workers.list().catch(() => []) : [];
    const serving = workers.filter((w) => w.models.includes(config.DEFAULT_MODEL)).length;
    const ready = queue && serving > 0;
    if (!ready) reply.code(503).header('retry-after', '5');
    return {
      status: ready ? 'ready' : 'not_ready',
      queue: queue ? 'up' : 'down',
      workers: workers.length,
      default_model: config.DEFAULT_MODEL,
      workers_for_default_model: serving,
    };
  });
};
