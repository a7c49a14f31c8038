import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { GiraffeError } from '../../errors';
import { jobRequestSchema, isFinal, type JobRequest } from '../../jobs';
import { resolveRequest } from '../../pipeline';
import { jobView } from '../job-view';
import { waitForJob } from '../wait-for-job';

/** `?wait=true` holds the request until the job ends, at most this long. */
const MAX_WAIT_S = 300;

const querySchema = z.strictObject({
  wait: z
    .enum(['true', 'false', '1', '0'])
    .optional()
    .transform((v) => v === 'true' || v === '1'),
  timeout: z.coerce.number().int().min(1).max(MAX_WAIT_S).optional(),
});

/**
 * `POST /v1/generate` (also `/generate`): validates the request, fills in the
 * model's defaults and a seed, enqueues it and answers 202 with the job, its
 * place in the queue and its links. `?wait=true` answers with the finished
 * job instead (or the job as it stands when `timeout` seconds run out).
 */
export const generateRoutes: FastifyPluginAsyncZod = async (app) => {
  const handler = async (
    request: FastifyRequest<{ Body: JobRequest; Querystring: z.infer<typeof querySchema> }>,
    reply: FastifyReply,
  ): Promise<FastifyReply> => {
    const { driver, catalog, config } = app.giraffe;
    const { model: requested, ...generation } = request.body;
    const modelId = requested ?? config.DEFAULT_MODEL;
    const model = await catalog.get(modelId);
    if (!model) {
      throw new GiraffeError(
        'GIRAFFE_ERR_MODEL_UNKNOWN',
        `model: "${modelId}" is not served here (GET /v1/models lists the models)`,
        {
          field: 'model',
        },
      );
    }
    const resolved = resolveRequest(generation, {
      size: model.defaults.width,
      scheduler: model.defaults.scheduler,
    });
    const job = await driver.queue.enqueue({
      model: modelId,
      request: resolved,
      owner: request.owner,
      request_id: request.id,
    });
    request.log.info({ job_id: job.id, model: modelId }, 'job queued');

    if (request.query.wait) {
      const timeoutMs = (request.query.timeout ?? 60) * 1000;
      const closed = new AbortController();
      request.raw.once('close', () => closed.abort());
      const finished = (await waitForJob(driver, job.id, timeoutMs, closed.signal)) ?? job;
      return reply
        .code(isFinal(finished.status) ? 200 : 202)
        .header('location', `/v1/jobs/${job.id}`)
        .send(jobView(finished));
    }
    const position = await driver.queue.position(job.id);
    return reply.code(202).header('location', `/v1/jobs/${job.id}`).send(jobView(job, position));
  };
  const schema = { body: jobRequestSchema, querystring: querySchema };
  app.post('/v1/generate', { schema }, handler);
  app.post('/generate', { schema }, handler);
};
