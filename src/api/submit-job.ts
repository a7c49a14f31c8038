import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GiraffeError, isGiraffeError } from '../errors';
import type { InputImageName, JobRecord, ResolvedJobRequest } from '../jobs';
import type { EnqueuedJob } from '../queue';
import type { WebhookSubscription } from '../jobs/job-request';
// The request contract alone: an API process never loads onnxruntime (DESIGN.md).
import { checkSchedulerRequest, resolveRequest, type GenerateRequest } from '../pipeline/contract';
import { idempotent } from './idempotency';
import { acceptEdit, resolveEdit, type EditInput } from './edit-request';
import { assertModeSupported, requestMode } from './model-modes';
import { activeJobLimit } from './active-jobs';
import { clientScope } from './client-scope';
import { refuseUnreachableWebhook } from './webhook-destination';
import { servedModel } from './served-model';

/**
 * The one way a route turns a validated request into a queued job: the model
 * must be served by a live worker (see servedModel), its queue must have room (MAX_QUEUE_DEPTH), defaults and a
 * seed are filled in, and an `Idempotency-Key` makes a retried POST return
 * the job the first one made. Resolves with the job, its place in the queue
 * while it waits, and whether it is a replay. A new job costs no Redis read
 * beyond queueing it: the queue checks the depth and reports the position.
 */
export async function submitJob(
  app: FastifyInstance,
  request: FastifyRequest,
  modelId: string,
  generation: GenerateRequest,
  idempotencyBody: unknown,
  webhook?: WebhookSubscription,
  edit: EditInput = {},
): Promise<{ job: JobRecord; position: number | undefined; replayed: boolean }> {
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
  if (webhook) await refuseUnreachableWebhook(webhook.url, config);
  // A name the deployment does not know is refused before any image is decoded; whether a worker
  // serves it is checked for new jobs only, below (a replay returns the job it made).
  const catalogued = await catalog.get(modelId);
  if (!catalogued) await servedModel(catalog, modelId);
  assertModeSupported(modelId, catalogued?.modes, requestMode(edit));
  // Decoded and checked before anything is claimed or queued: a bad image loses nothing.
  const accepted = await acceptEdit(edit, {
    maxBytes: config.MAX_INPUT_IMAGE_BYTES,
    maxPixels: config.MAX_INPUT_IMAGE_PIXELS,
  });
  const key = request.headers['idempotency-key'];
  let created: EnqueuedJob | undefined;
  const { jobId, replayed } = await idempotent(
    idempotency,
    clientScope(request),
    typeof key === 'string' ? key : undefined,
    // Images count by their hash: the fingerprint never hashes megabytes of base64 twice.
    accepted.fingerprintBody(idempotencyBody),
    config.RETENTION_SECONDS * 1000,
    async (jobId) => {
      // Checked for new jobs only: a replay returns the job it made even once its model is unserved.
      const model = await servedModel(catalog, modelId);
      const text = resolveRequest(
        { ...generation, ...accepted.size(generation.width ?? undefined, generation.height ?? undefined) },
        { size: model.defaults.width, scheduler: model.defaults.scheduler },
      );
      const resolved: ResolvedJobRequest = { ...text, ...resolveEdit(accepted, edit) };
      // Each scheduler's own limits (karras, step counts), refused now rather than by the worker later.
      if (model.schedulerConfig) checkSchedulerRequest(resolved.scheduler, model.schedulerConfig, resolved);
      // An Idempotency-Key's job id is fixed when the key is claimed: enqueueing it is the idempotent step.
      const id = jobId ?? randomUUID();
      // Stored once, beside the job's results (same retention, deleted with them), before the job is
      // visible to a worker; the record keeps only their hash, size and dimensions.
      const stored = Object.entries(accepted.images) as [
        InputImageName,
        { data: Buffer; ref: { content_type: string } },
      ][];
      return activeJobLimit(app).admit(clientScope(request), request.id, async () => {
        let job: EnqueuedJob;
        try {
          await Promise.all(
            stored.map(([name, img]) =>
              driver.results.putInput(id, name, { data: img.data, content_type: img.ref.content_type }),
            ),
          );
          job = await driver.queue.enqueue({
            id,
            model: modelId,
            request: resolved,
            owner: request.owner,
            request_id: request.id,
            webhook,
            maxDepth: config.MAX_QUEUE_DEPTH,
          });
        } catch (err) {
          // The id taken already is the key's own job (a retry): its inputs are that job's, keep them.
          if (stored.length > 0 && !isGiraffeError(err, 'GIRAFFE_ERR_JOB_EXISTS'))
            await driver.results.delete(id).catch(() => undefined);
          throw err;
        }
        request.log.info({ job_id: job.id, model: modelId }, 'job queued');
        created = job;
        return job.id;
      });
    },
    async (jobId) => (await driver.queue.get(jobId)) !== undefined,
  );
  if (created) {
    const { position, ...job } = created;
    return { job, position, replayed };
  }
  // A replay reads the job as it stands now.
  const job = await driver.queue.get(jobId);
  if (!job)
    throw new GiraffeError(
      'GIRAFFE_ERR_JOB_NOT_FOUND',
      `job ${jobId} (made by an earlier request with this Idempotency-Key) has expired`,
    );
  const position = job.status === 'queued' ? await driver.queue.position(jobId) : undefined;
  return { job, position, replayed };
}
