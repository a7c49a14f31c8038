import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GiraffeError } from '../errors';
import type { JobRecord } from '../jobs';
import type { WebhookSubscription } from '../jobs/job-request';
import { resolveRequest, type GenerateRequest } from '../pipeline';
import { idempotent } from './idempotency';

/** How long a client should wait before retrying when the queue is full. */
const QUEUE_FULL_RETRY_AFTER_S = 10;

/**
 * The one way a route turns a validated request into a queued job: the model
 * must be served, its queue must have room (MAX_QUEUE_DEPTH), defaults and a
 * seed are filled in, and an `Idempotency-Key` makes a retried POST return
 * the job the first one made.
 */
export async function submitJob(
  app: FastifyInstance,
  request: FastifyRequest,
  modelId: string,
  generation: GenerateRequest,
  idempotencyBody: unknown,
  webhook?: WebhookSubscription,
): Promise<{ job: JobRecord; replayed: boolean }> {
  const { driver, catalog, config, idempotency } = app.giraffe;
  if (webhook && !config.WEBHOOK_SECRET) {
    throw new GiraffeError(
      'GIRAFFE_ERR_WEBHOOKS_DISABLED',
      'webhook_url: this deployment sends no webhooks (WEBHOOK_SECRET is not set)',
      {
        field: 'webhook_url',
      },
    );
  }
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
  const key = request.headers['idempotency-key'];
  let created: JobRecord | undefined;
  const { jobId, replayed } = await idempotent(
    idempotency,
    request.owner ?? '_',
    typeof key === 'string' ? key : undefined,
    idempotencyBody,
    config.RETENTION_SECONDS * 1000,
    async () => {
      if ((await driver.queue.depth(modelId)) >= config.MAX_QUEUE_DEPTH) {
        throw new GiraffeError(
          'GIRAFFE_ERR_QUEUE_FULL',
          `the queue for "${modelId}" holds ${config.MAX_QUEUE_DEPTH} waiting jobs; retry later`,
          {
            retry_after_s: QUEUE_FULL_RETRY_AFTER_S,
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
        webhook,
      });
      request.log.info({ job_id: job.id, model: modelId }, 'job queued');
      return job.id;
    },
  );
  // A replay reads the job as it stands now; a new job is the record just made.
  const job = created ?? (await driver.queue.get(jobId));
  if (!job)
    throw new GiraffeError(
      'GIRAFFE_ERR_JOB_NOT_FOUND',
      `job ${jobId} (made by an earlier request with this Idempotency-Key) has expired`,
    );
  return { job, replayed };
}
