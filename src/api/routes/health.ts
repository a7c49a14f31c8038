import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { healthSchema, jsonResponse, readinessSchema } from '../schemas';

/**
 * `GET /healthz`: the process is up. `GET /readyz`: the queue answers and at
 * least one worker serves the default model — a load balancer should send
 * traffic only then.
 */
export const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  const { driver, config } = app.giraffe;
  app.get(
    '/healthz',
    {
      config: { public: true },
      schema: {
        tags: ['health'],
        operationId: 'getHealth',
        summary: 'Liveness',
        description: 'The process is up. Needs no API key.',
        response: { 200: jsonResponse(healthSchema, 'The process is up.') },
      },
    },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/readyz',
    {
      config: { public: true },
      schema: {
        tags: ['health'],
        operationId: 'getReadiness',
        summary: 'Readiness',
        description:
          'Ready when the queue answers and at least one worker serves the default model: a load balancer ' +
          'should send traffic only then. Not ready is a `503` with `Retry-After`. Needs no API key.',
        response: {
          200: jsonResponse(readinessSchema, 'Ready.'),
          503: jsonResponse(
            readinessSchema,
            'Not ready: the queue is down or no worker serves the default model.',
          ),
        },
      },
    },
    async (_request, reply) => {
      const queue = await driver.ping().catch(() => false);
      const workers = queue ? await driver.workers.list().catch(() => []) : [];
      const serving = workers.filter((w) => w.models.includes(config.DEFAULT_MODEL)).length;
      const ready = queue && serving > 0;
      if (!ready) reply.code(503).header('retry-after', '5');
      return {
        status: ready ? ('ready' as const) : ('not_ready' as const),
        queue: queue ? ('up' as const) : ('down' as const),
        workers: workers.length,
        default_model: config.DEFAULT_MODEL,
        workers_for_default_model: serving,
      };
    },
  );
};
